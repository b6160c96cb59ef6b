import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EventEnvelope } from "@shoal/bus";
import { CONFIG_EVENT_SCHEMA_VERSIONS, DAEMON_CONFIG_STREAM, configDecider } from "@shoal/config";
import { containerStreamId } from "@shoal/domain";
import type { ContainerCommand } from "@shoal/domain";
import { createEventStore, handleCommand } from "@shoal/event-store";
import type { EventStore } from "@shoal/event-store";
import { createTestDatabase } from "@shoal/testing";
import type { TestDatabase } from "@shoal/testing";
import { createDaemonConfigReader } from "./daemon-config";
import { createPlacementReadAhead } from "./read-ahead";
import { containerCommand } from "./testing/container-requests";

const MiB = 1024 * 1024;
let database: TestDatabase;
let store: EventStore;
const reads: string[] = [];
let counting: EventStore;

beforeAll(async () => {
  database = await createTestDatabase();
  store = createEventStore({ db: database.db });
  counting = {
    ...store,
    readStream(streamId, opts) {
      reads.push(streamId);
      return store.readStream(streamId, opts);
    },
    readStreams(streams, opts) {
      reads.push(streams.map((s) => s.streamId).join(","));
      return store.readStreams(streams, opts);
    },
  };
});

afterAll(async () => {
  await database?.drop();
});

const now = () => new Date().toISOString();

/** Runs `cmd` on the container's stream and returns what it appended last, as it is published. */
async function command(id: string, cmd: ContainerCommand): Promise<EventEnvelope> {
  await containerCommand(store, cmd);
  return (await store.readStream(containerStreamId(id))).at(-1)! as unknown as EventEnvelope;
}

const created = (id: string) =>
  command(id, {
    type: "CreateContainer",
    data: { containerId: id, name: `c-${id.slice(0, 8)}`, hostConfig: {}, source: { kind: "rootfs", path: "/srv/rootfs" }, args: ["sh"], env: [], createdAt: now() },
  });
const requested = (id: string) => command(id, { type: "StartContainer", data: { containerId: id, now: now(), experimental: false } });
const newId = () => randomUUID().replace(/-/g, "").repeat(2);

describe("the scheduler's read-ahead", () => {
  it("reads a created container and the config when it is created, so its start request needs no read", async () => {
    const ahead = createPlacementReadAhead(createDaemonConfigReader(counting));
    const id = newId();
    const createdEvent = await created(id);
    reads.length = 0;
    ahead.containerCreated(createdEvent);
    const request = await requested(id);
    const inputs = await ahead.take(request);
    expect(reads).toEqual([`${containerStreamId(id)},${DAEMON_CONFIG_STREAM}`]); // the one read, at creation
    expect(inputs?.recorded.map((e) => e.type)).toEqual(["ContainerCreated", "ContainerStartRequested"]);
    expect(inputs?.config.defaultShmSizeBytes).toBe(64 * MiB);
    expect(await ahead.take(request)).toBeUndefined(); // once
  });

  it("gives nothing for a request that does not directly follow the creation, or after a config change", async () => {
    const ahead = createPlacementReadAhead(createDaemonConfigReader(counting));
    const later = newId();
    ahead.containerCreated(await created(later));
    await requested(later);
    await command(later, { type: "RecordStartFailed", data: { containerId: later, now: now(), exitCode: 125, reason: "no suitable host" } });
    expect(await ahead.take(await requested(later))).toBeUndefined();

    const changed = newId();
    ahead.containerCreated(await created(changed));
    await handleCommand(store, {
      streamId: DAEMON_CONFIG_STREAM,
      decider: configDecider,
      command: { type: "SetConfig", data: { assignments: ["default-shm-size=128m"], now: now() } },
      eventId: () => randomUUID(),
      schemaVersion: (t) => CONFIG_EVENT_SCHEMA_VERSIONS[t],
    });
    ahead.configChanged(); // what the DaemonConfigChanged on NATS triggers
    expect(await ahead.take(await requested(changed))).toBeUndefined();
  });
});
