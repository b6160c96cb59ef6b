// The container watcher folds the events it is sent onto the record it has, in stream
// order, without reading the stream for each; a missing version means a read.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONTAINER_EVENT_SCHEMA_VERSIONS, containerStreamId } from "@shoal/domain";
import type { EventStore } from "@shoal/event-store";
import { createJetStreamEventPublisher } from "@shoal/bus";
import { createContainerWatcher } from "./container-watcher";
import { foldContainer, readContainer } from "./container-record";
import type { ContainerRecord } from "./container-record";
import { createApiTestBed } from "./testing/api-test-bed";
import type { ApiTestBed } from "./testing/api-test-bed";

let bed: ApiTestBed;
beforeAll(async () => {
  bed = await createApiTestBed();
});
afterAll(async () => {
  await bed?.close();
});

/** The bed's store, counting stream reads. */
function countingStore(): { store: EventStore; reads: () => number } {
  let reads = 0;
  const store: EventStore = { ...bed.store, readStream: (id, o) => (reads++, bed.store.readStream(id, o)) };
  return { store, reads: () => reads };
}

/** A container whose start was requested with no one to carry it out: its stream waits at "starting" (version 2). */
async function startRequested(): Promise<string> {
  const { id } = await bed.call<{ id: string }>("CreateContainer", { name: `w-${randomUUID().slice(0, 8)}`, rootfs: bed.rootfs, args: ["true"] });
  const data = { containerId: id, requestedAt: new Date().toISOString() };
  await bed.store.appendToStream(containerStreamId(id), 1, [
    { eventId: randomUUID(), type: "ContainerStartRequested", schemaVersion: CONTAINER_EVENT_SCHEMA_VERSIONS.ContainerStartRequested, data, metadata: {} },
  ]);
  return id;
}

/** Waits, with a watcher that counts its stream reads, until `id` is scheduled, starting from `from`. */
async function untilScheduled(id: string, from: ContainerRecord, publishScheduled: () => Promise<void>): Promise<{ record: ContainerRecord; reads: number }> {
  const counted = countingStore();
  const watcher = await createContainerWatcher({ nc: bed.nats.nc, prefix: bed.nats.prefix, store: counted.store, pollMs: 60_000 });
  try {
    const reached = watcher.watch(id).until((r) => (r.state.status === "scheduled" ? r : undefined), 10_000, "scheduled", undefined, from);
    await publishScheduled();
    return { record: await reached, reads: counted.reads() };
  } finally {
    await watcher.close();
  }
}

/** Appends a ContainerScheduled as the scheduler does, and publishes it at once. */
async function appendScheduled(id: string, version: number): Promise<void> {
  const publisher = createJetStreamEventPublisher(bed.nats.js, { prefix: bed.nats.prefix });
  const eventId = randomUUID();
  const data = { containerId: id, host: "h1", scheduledAt: new Date().toISOString() };
  const r = await bed.store.appendToStream(containerStreamId(id), version, [
    { eventId, type: "ContainerScheduled", schemaVersion: CONTAINER_EVENT_SCHEMA_VERSIONS.ContainerScheduled, data, metadata: {} },
  ]);
  await publisher.publish({
    eventId,
    streamId: containerStreamId(id),
    streamVersion: r.nextVersion,
    globalPosition: r.globalPositions[0]!,
    type: "ContainerScheduled",
    schemaVersion: 1,
    data,
    metadata: {},
    recordedAt: new Date(),
  });
}

describe("container watcher", () => {
  it("folds the next version's published event onto the record it has: no read", async () => {
    const id = await startRequested();
    const seed = await readContainer(bed.store, id);
    expect(seed.state.status).toBe("starting");
    const { record, reads } = await untilScheduled(id, seed, () => appendScheduled(id, seed.version));
    expect(record.version).toBe(seed.version + 1);
    expect(reads).toBe(0);
  });

  it("wakes a waiter with an event this process delivers, without NATS", async () => {
    const id = await startRequested();
    const seed = await readContainer(bed.store, id);
    const counted = countingStore();
    // A prefix nothing is published on: only the in-process delivery can answer.
    const watcher = await createContainerWatcher({ nc: bed.nats.nc, prefix: `${bed.nats.prefix}-silent`, store: counted.store, pollMs: 60_000 });
    try {
      const reached = watcher.watch(id).until((r) => (r.state.status === "scheduled" ? r : undefined), 10_000, "scheduled", undefined, seed);
      const data = { containerId: id, host: "h1", scheduledAt: new Date().toISOString() };
      const eventId = randomUUID();
      const r = await bed.store.appendToStream(containerStreamId(id), seed.version, [
        { eventId, type: "ContainerScheduled", schemaVersion: CONTAINER_EVENT_SCHEMA_VERSIONS.ContainerScheduled, data, metadata: {} },
      ]);
      watcher.deliver({ eventId, streamId: containerStreamId(id), streamVersion: r.nextVersion, globalPosition: r.globalPositions[0]!, type: "ContainerScheduled", schemaVersion: 1, data, metadata: {}, recordedAt: new Date() });
      expect((await reached).version).toBe(seed.version + 1);
      expect(counted.reads()).toBe(0);
    } finally {
      await watcher.close();
    }
  });

  it("reads the stream when a version is missing", async () => {
    const id = await startRequested();
    // A record one version behind the stream: the next published event does not follow it.
    const stale = foldContainer((await bed.store.readStream(containerStreamId(id))).slice(0, 1));
    const { record, reads } = await untilScheduled(id, stale, () => appendScheduled(id, 2));
    expect(record.version).toBe(3);
    expect(reads).toBeGreaterThanOrEqual(1);
  });
});
