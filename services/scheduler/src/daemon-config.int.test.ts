import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONFIG_EVENT_SCHEMA_VERSIONS, DAEMON_CONFIG_STREAM, configDecider } from "@shoal/config";
import { containerStreamId } from "@shoal/domain";
import { createEventStore, handleCommand } from "@shoal/event-store";
import type { EventStore } from "@shoal/event-store";
import { createTestDatabase } from "@shoal/testing";
import type { TestDatabase } from "@shoal/testing";
import { createDaemonConfigReader } from "./daemon-config";

const MiB = 1024 * 1024;
let database: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  database = await createTestDatabase();
  store = createEventStore({ db: database.db });
});

afterAll(async () => {
  await database?.drop();
});

const setConfig = (assignment: string) =>
  handleCommand(store, {
    streamId: DAEMON_CONFIG_STREAM,
    decider: configDecider,
    command: { type: "SetConfig", data: { assignments: [assignment], now: new Date().toISOString() } },
    eventId: () => randomUUID(),
    schemaVersion: (t) => CONFIG_EVENT_SCHEMA_VERSIONS[t],
  });

describe("the scheduler's daemon config reader", () => {
  it("reads a stream and the config in force in one query, following config changes between reads", async () => {
    const queries: string[] = [];
    const counting: EventStore = {
      ...store,
      readStream(streamId, opts) {
        queries.push(`readStream ${streamId}`);
        return store.readStream(streamId, opts);
      },
      readStreams(streams, opts) {
        queries.push(`readStreams ${streams.map((s) => s.streamId).join(",")}`);
        return store.readStreams(streams, opts);
      },
    };
    const reader = createDaemonConfigReader(counting);
    const stream = containerStreamId("c".repeat(64));

    const first = await reader.readWith([stream]);
    expect(first.streams.get(stream)).toEqual([]);
    expect(first.config.defaultShmSizeBytes).toBe(64 * MiB);

    await setConfig("default-shm-size=128m");
    expect((await reader.readWith([stream])).config.defaultShmSizeBytes).toBe(128 * MiB);
    expect(queries).toEqual([`readStreams ${stream},${DAEMON_CONFIG_STREAM}`, `readStreams ${stream},${DAEMON_CONFIG_STREAM}`]);

    // Both ways of reading follow the same folded config.
    await setConfig("default-shm-size=256m");
    expect((await reader.read()).defaultShmSizeBytes).toBe(256 * MiB);
    expect((await reader.readWith([stream])).config.defaultShmSizeBytes).toBe(256 * MiB);
    await setConfig("default-shm-size=32m");
    expect((await reader.readWith([stream])).config.defaultShmSizeBytes).toBe(32 * MiB);
    expect((await reader.read()).defaultShmSizeBytes).toBe(32 * MiB);
  });

  it("answers the config of a version a start was requested under, reading only for a version it has not seen (RCU)", async () => {
    const reader = createDaemonConfigReader(store);
    const now = (await reader.read()).defaultShmSizeBytes;
    const before = (await store.readStream(DAEMON_CONFIG_STREAM)).length;
    await setConfig("default-shm-size=16m");
    // Not read yet: asking for the new version reads it.
    expect((await reader.at(before + 1))?.defaultShmSizeBytes).toBe(16 * MiB);
    await setConfig("default-shm-size=8m");
    await reader.read();
    // An older version stays what it was.
    expect((await reader.at(before))?.defaultShmSizeBytes).toBe(now);
    expect((await reader.at(before + 1))?.defaultShmSizeBytes).toBe(16 * MiB);
    expect((await reader.at(before + 2))?.defaultShmSizeBytes).toBe(8 * MiB);
    expect(await reader.at(before + 99)).toBeUndefined();
  });
});
