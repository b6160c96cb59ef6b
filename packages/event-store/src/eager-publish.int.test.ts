// The eager publish: a store with a publisher publishes what it commits right after the
// commit (plain appends and `transaction`s), marks the outbox row sent, and leaves anything
// it could not publish to the relay.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { createTestDatabase } from "@shoal/testing";
import type { TestDatabase } from "@shoal/testing";
import { createEventStore, createOutboxRelay } from "./index";
import type { NewEvent, OutboxMessage, OutboxPublisher } from "./index";

function event(type: string, data: unknown = {}): NewEvent {
  return { eventId: randomUUID(), type, schemaVersion: 1, data, metadata: { by: "test" } };
}

/** Records what it is given; `committed` says whether the event was visible to another connection at that moment. */
class ObservingPublisher implements OutboxPublisher {
  readonly published: Array<OutboxMessage & { committed: boolean }> = [];
  failing = false;
  async publish(message: OutboxMessage): Promise<void> {
    if (this.failing) throw new Error("bus is down");
    const seen = await sql<{ n: number }>`SELECT count(*)::int AS n FROM events WHERE event_id = ${message.eventId}::uuid`.execute(tdb.db);
    this.published.push({ ...message, committed: seen.rows[0]!.n === 1 });
  }
}

let tdb: TestDatabase;

async function unsentRows(streamId: string): Promise<number> {
  const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM outbox WHERE stream_id = ${streamId} AND sent_at IS NULL`.execute(tdb.db);
  return r.rows[0]!.n;
}

beforeAll(async () => {
  tdb = await createTestDatabase();
});

beforeEach(async () => {
  await sql`UPDATE outbox SET sent_at = now() WHERE sent_at IS NULL`.execute(tdb.db);
});

afterAll(async () => {
  await tdb?.drop();
});

describe("eager publish", () => {
  it("publishes a committed append before appendToStream resolves, as the relay would, and marks its outbox row sent", async () => {
    const publisher = new ObservingPublisher();
    const store = createEventStore({ db: tdb.db, publisher });
    const streamId = `eager-${randomUUID()}`;
    const events = [event("ThingHappened", { n: 1 }), event("ThingHappened", { n: 2 })];
    const result = await store.appendToStream(streamId, "no-stream", events);

    expect(publisher.published.map((m) => [m.eventId, m.streamVersion, m.committed])).toEqual([
      [events[0]!.eventId, 1, true],
      [events[1]!.eventId, 2, true],
    ]);
    const stored = await store.readStream(streamId);
    const published = publisher.published.map(({ committed: _c, ...m }) => m);
    expect(published).toEqual(
      stored.map((e) => ({ eventId: e.eventId, streamId, streamVersion: e.streamVersion, globalPosition: e.globalPosition, type: e.type, schemaVersion: e.schemaVersion, data: e.data, metadata: e.metadata, recordedAt: e.recordedAt })),
    );
    expect(published.map((m) => m.globalPosition)).toEqual(result.globalPositions);
    await expect.poll(() => unsentRows(streamId)).toBe(0);
  });

  it("publishes every append of appendToStreams after its one commit, in the order given, and marks their rows sent", async () => {
    const publisher = new ObservingPublisher();
    const store = createEventStore({ db: tdb.db, publisher });
    const a = `eager-${randomUUID()}`;
    const b = `eager-${randomUUID()}`;
    await store.appendToStreams([
      { streamId: a, expectedVersion: "no-stream", events: [event("First"), event("Second")] },
      { streamId: b, expectedVersion: "no-stream", events: [event("Third")] },
    ]);
    expect(publisher.published.map((m) => [m.streamId, m.type, m.committed])).toEqual([
      [a, "First", true],
      [a, "Second", true],
      [b, "Third", true],
    ]);
    await expect.poll(async () => (await unsentRows(a)) + (await unsentRows(b))).toBe(0);
  });

  it("publishes at once when `trx` is the database itself, not a transaction", async () => {
    const publisher = new ObservingPublisher();
    const store = createEventStore({ db: tdb.db, publisher });
    const streamId = `eager-${randomUUID()}`;
    await store.appendToStream(streamId, "no-stream", [event("Direct")], { trx: tdb.db });
    expect(publisher.published.map((m) => [m.streamId, m.committed])).toEqual([[streamId, true]]);
  });

  it("publishes a transaction's appends only after it commits, and nothing when it rolls back", async () => {
    const publisher = new ObservingPublisher();
    const store = createEventStore({ db: tdb.db, publisher });
    const a = `eager-${randomUUID()}`;
    const b = `eager-${randomUUID()}`;
    const countDuring: number[] = [];
    await store.transaction(tdb.db, async (trx) => {
      await store.appendToStream(a, "no-stream", [event("A")], { trx });
      await store.appendToStream(b, "no-stream", [event("B")], { trx });
      countDuring.push(publisher.published.length);
    });
    expect(countDuring).toEqual([0]);
    expect(publisher.published.map((m) => [m.streamId, m.committed])).toEqual([
      [a, true],
      [b, true],
    ]);

    const c = `eager-${randomUUID()}`;
    await expect(
      store.transaction(tdb.db, async (trx) => {
        await store.appendToStream(c, "no-stream", [event("C")], { trx });
        throw new Error("changed my mind");
      }),
    ).rejects.toThrow("changed my mind");
    expect(publisher.published.map((m) => m.streamId)).not.toContain(c);
    expect(await store.readStream(c)).toEqual([]);
  });

  it("a failed eager publish still appends, and leaves the row to the relay", async () => {
    const publisher = new ObservingPublisher();
    publisher.failing = true;
    const store = createEventStore({ db: tdb.db, publisher });
    const streamId = `eager-${randomUUID()}`;
    const [e] = [event("Kept")];
    await store.appendToStream(streamId, "no-stream", [e!]);
    expect(await unsentRows(streamId)).toBe(1);

    const relayed: string[] = [];
    const relay = createOutboxRelay({
      pool: tdb.pool,
      publisher: { publish: async (m) => void relayed.push(m.eventId) },
      recheckIntervalMs: 600_000,
    });
    await relay.start();
    try {
      await expect.poll(() => relayed, { timeout: 10_000 }).toContain(e!.eventId);
      await expect.poll(() => unsentRows(streamId)).toBe(0);
    } finally {
      await relay.stop();
    }
  });

  it("a store without a publisher publishes nothing itself", async () => {
    const store = createEventStore({ db: tdb.db });
    const streamId = `plain-${randomUUID()}`;
    await store.appendToStream(streamId, "no-stream", [event("Plain")]);
    expect(await unsentRows(streamId)).toBe(1);
  });
});
