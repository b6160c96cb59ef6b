import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { FailedPreconditionError } from "@shoal/domain";
import { connectTestNats } from "@shoal/testing";
import type { TestNats } from "@shoal/testing";
import {
  deleteStreams,
  ensureStreams,
  EVENTS_DUPLICATE_WINDOW_MS,
  eventsStreamName,
  REPORTS_MAX_AGE_MS,
  reportsStreamName,
} from "./streams";

let t: TestNats;
beforeAll(async () => {
  t = await connectTestNats();
});
afterAll(async () => {
  await t?.cleanup();
});

describe("ensureStreams (real JetStream)", () => {
  it("creates the events and reports streams with the subjects, storage and dedup window Shoal relies on", async () => {
    const names = await ensureStreams(t.jsm, t.prefix);
    expect(names).toEqual({ events: eventsStreamName(t.prefix), reports: reportsStreamName(t.prefix) });

    const events = await t.jsm.streams.info(names.events);
    expect(events.config.subjects).toEqual([`${t.prefix}.evt.>`]);
    expect(events.config.storage).toBe(StorageType.File);
    expect(events.config.retention).toBe(RetentionPolicy.Limits);
    expect(events.config.duplicate_window).toBe(nanos(EVENTS_DUPLICATE_WINDOW_MS));

    const reports = await t.jsm.streams.info(names.reports);
    expect(reports.config.subjects).toEqual([`${t.prefix}.host.*.report.>`]);
    expect(reports.config.max_age).toBe(nanos(REPORTS_MAX_AGE_MS));
  });

  it("is idempotent: a second call keeps the streams and their messages", async () => {
    await ensureStreams(t.jsm, t.prefix);
    await t.js.publish(`${t.prefix}.evt.container.ContainerStarted`, "{}", { msgID: "keep-me" });
    await ensureStreams(t.jsm, t.prefix);
    const info = await t.jsm.streams.info(eventsStreamName(t.prefix));
    expect(info.state.messages).toBe(1);
  });

  it("brings a drifted stream back to the desired configuration", async () => {
    const name = eventsStreamName(t.prefix);
    const current = await t.jsm.streams.info(name);
    await t.jsm.streams.update(name, { ...current.config, duplicate_window: nanos(5_000) });
    await ensureStreams(t.jsm, t.prefix);
    const after = await t.jsm.streams.info(name);
    expect(after.config.duplicate_window).toBe(nanos(EVENTS_DUPLICATE_WINDOW_MS));
    expect(after.state.messages).toBe(1);
  });

  it("refuses to silently keep a stream whose storage cannot be changed in place", async () => {
    const other = await connectTestNats();
    try {
      await other.jsm.streams.add({
        name: eventsStreamName(other.prefix),
        subjects: [`${other.prefix}.evt.>`],
        storage: StorageType.Memory,
      });
      await expect(ensureStreams(other.jsm, other.prefix)).rejects.toBeInstanceOf(FailedPreconditionError);
    } finally {
      await other.cleanup();
    }
  });

  it("deleteStreams removes both streams and tolerates missing ones", async () => {
    await deleteStreams(t.jsm, t.prefix);
    await deleteStreams(t.jsm, t.prefix);
    const names: string[] = [];
    for await (const s of t.jsm.streams.list()) names.push(s.config.name);
    expect(names).not.toContain(eventsStreamName(t.prefix));
    expect(names).not.toContain(reportsStreamName(t.prefix));
  });
});
