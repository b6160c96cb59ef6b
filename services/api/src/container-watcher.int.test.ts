// The container watcher folds the events it is sent onto the record it has, in stream
// order, without reading the stream for each; a missing version means a read.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONTAINER_EVENT_SCHEMA_VERSIONS, containerStreamId } from "@shoal/domain";
import type { EventStore } from "@shoal/event-store";
import { createJetStreamEventPublisher } from "@shoal/bus";
import { createContainerWatcher } from "./container-watcher";
import { foldContainer, readContainer } from "./container-record";
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

async function created(): Promise<string> {
  const { id } = await bed.call<{ id: string }>("CreateContainer", { name: `w-${randomUUID().slice(0, 8)}`, rootfs: bed.rootfs, args: ["true"] });
  return id;
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
    const id = await created();
    // Request the start without anyone to carry it out: the stream waits at "starting".
    await bed.store.appendToStream(containerStreamId(id), 1, [
      { eventId: randomUUID(), type: "ContainerStartRequested", schemaVersion: CONTAINER_EVENT_SCHEMA_VERSIONS.ContainerStartRequested, data: { containerId: id, requestedAt: new Date().toISOString() }, metadata: {} },
    ]);
    const counted = countingStore();
    const watcher = await createContainerWatcher({ nc: bed.nats.nc, prefix: bed.nats.prefix, store: counted.store, pollMs: 60_000 });
    try {
      const seed = await readContainer(bed.store, id);
      expect(seed.state.status).toBe("starting");
      const watch = watcher.watch(id);
      const reached = watch.until((r) => (r.state.status === "scheduled" ? r : undefined), 10_000, "scheduled", undefined, seed);
      await appendScheduled(id, seed.version);
      const r = await reached;
      expect(r.version).toBe(seed.version + 1);
      expect(counted.reads()).toBe(0);
    } finally {
      await watcher.close();
    }
  });

  it("reads the stream when a version is missing", async () => {
    const id = await created();
    await bed.store.appendToStream(containerStreamId(id), 1, [
      { eventId: randomUUID(), type: "ContainerStartRequested", schemaVersion: CONTAINER_EVENT_SCHEMA_VERSIONS.ContainerStartRequested, data: { containerId: id, requestedAt: new Date().toISOString() }, metadata: {} },
    ]);
    const counted = countingStore();
    const watcher = await createContainerWatcher({ nc: bed.nats.nc, prefix: bed.nats.prefix, store: counted.store, pollMs: 60_000 });
    try {
      // A record one version behind the stream: the next published event does not follow it.
      const stale = foldContainer((await bed.store.readStream(containerStreamId(id))).slice(0, 1));
      const watch = watcher.watch(id);
      const reached = watch.until((r) => (r.state.status === "scheduled" ? r : undefined), 10_000, "scheduled", undefined, stale);
      await appendScheduled(id, 2);
      const r = await reached;
      expect(r.version).toBe(3);
      expect(counted.reads()).toBeGreaterThanOrEqual(1);
    } finally {
      await watcher.close();
    }
  });
});
