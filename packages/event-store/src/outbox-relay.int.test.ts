import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { sql } from "kysely";
import { createTestDatabase } from "@shoal/testing";
import type { TestDatabase } from "@shoal/testing";
import { createEventStore, createOutboxRelay } from "./index";
import type { EventStore, NewEvent, OutboxMessage, OutboxPublisher, OutboxRelay } from "./index";

function event(type: string, data: unknown = {}): NewEvent {
  return { eventId: randomUUID(), type, schemaVersion: 2, data, metadata: { by: "test" } };
}

class RecordingPublisher implements OutboxPublisher {
  readonly published: OutboxMessage[] = [];
  attempts = 0;
  constructor(private readonly failOn?: (message: OutboxMessage) => boolean) {}
  async publish(message: OutboxMessage): Promise<void> {
    this.attempts++;
    if (this.failOn?.(message)) throw new Error(`bus refused ${message.type}`);
    this.published.push(message);
  }
  ids(): string[] {
    return this.published.map((m) => m.eventId);
  }
}

const tenMinutes = 600_000;
let tdb: TestDatabase;
let store: EventStore;
const relays: OutboxRelay[] = [];

function relay(publisher: OutboxPublisher, batchSize = 100, maxInFlight = 1): OutboxRelay {
  // A ten-minute safety re-check: within a test, only a notification can wake the relay.
  const r = createOutboxRelay({ pool: tdb.pool, publisher, batchSize, recheckIntervalMs: tenMinutes, maxInFlight });
  relays.push(r);
  return r;
}

/** Events the outbox still holds as unpublished, in outbox order. */
async function unsentEventIds(): Promise<string[]> {
  const r = await sql<{ event_id: string }>`
    SELECT e.event_id FROM outbox o
    JOIN events e ON e.stream_id = o.stream_id AND e.stream_version > o.sent_through_version AND e.stream_version <= o.to_version
    WHERE o.sent_at IS NULL ORDER BY o.id, e.stream_version`.execute(tdb.db);
  return r.rows.map((row) => row.event_id);
}

beforeAll(async () => {
  tdb = await createTestDatabase();
  store = createEventStore({ db: tdb.db });
});

beforeEach(async () => {
  await sql`UPDATE outbox SET sent_at = now() WHERE sent_at IS NULL`.execute(tdb.db);
});

afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop()));
});

afterAll(async () => {
  await tdb?.drop();
});

describe("outbox relay", () => {
  it("is woken by the append's NOTIFY, publishes the full message and marks the row sent", async () => {
    const publisher = new RecordingPublisher();
    await relay(publisher).start();
    const e = event("ContainerStarted", { pid: 7 });
    const streamId = `c-${randomUUID()}`;
    const { globalPositions } = await store.appendToStream(streamId, "no-stream", [e]);

    await vi.waitFor(() => expect(publisher.ids()).toEqual([e.eventId]), { timeout: 10_000, interval: 20 });
    const [message] = publisher.published;
    expect(message).toEqual({
      eventId: e.eventId,
      streamId,
      streamVersion: 1,
      globalPosition: globalPositions[0],
      type: "ContainerStarted",
      schemaVersion: 2,
      data: { pid: 7 },
      metadata: { by: "test" },
      recordedAt: expect.any(Date),
    });
    await vi.waitFor(async () => expect(await unsentEventIds()).toEqual([]), { timeout: 10_000, interval: 20 });
  });

  it("drains rows written while it was stopped, in order, across several batches", async () => {
    const streamId = `c-${randomUUID()}`;
    const events = Array.from({ length: 25 }, (_, i) => event(`E${i}`));
    await store.appendToStream(streamId, "no-stream", events.slice(0, 20));
    await store.appendToStream(streamId, 20, events.slice(20));
    const publisher = new RecordingPublisher();
    await relay(publisher, 7).start();
    await vi.waitFor(() => expect(publisher.published).toHaveLength(25), { timeout: 10_000, interval: 20 });
    expect(publisher.ids()).toEqual(events.map((e) => e.eventId));
    expect(publisher.published.map((m) => m.streamVersion)).toEqual(events.map((_, i) => i + 1));
    // Rows are marked sent after the publishes, when the batch commits.
    await vi.waitFor(async () => expect(await unsentEventIds()).toEqual([]), { timeout: 10_000, interval: 20 });
  });

  it("leaves the rows from a failed publish on unsent, and a restarted relay sends them", async () => {
    const events = [event("A"), event("B"), event("Poison"), event("D"), event("E")];
    const failing = new RecordingPublisher((m) => m.type === "Poison");
    const first = relay(failing);
    await first.start();
    await store.appendToStream(`c-${randomUUID()}`, "no-stream", events);
    await vi.waitFor(() => expect(failing.attempts).toBeGreaterThanOrEqual(3), { timeout: 10_000, interval: 20 });
    await first.stop();

    expect(failing.ids()).toEqual(events.slice(0, 2).map((e) => e.eventId));
    expect(await unsentEventIds()).toEqual(events.slice(2).map((e) => e.eventId));

    const healthy = new RecordingPublisher();
    await relay(healthy).start();
    await vi.waitFor(() => expect(healthy.ids()).toEqual(events.slice(2).map((e) => e.eventId)), {
      timeout: 10_000,
      interval: 20,
    });
    // Rows are marked sent after the publishes, when the batch commits.
    await vi.waitFor(async () => expect(await unsentEventIds()).toEqual([]), { timeout: 10_000, interval: 20 });
  });

  it("overlaps publishes of different streams but keeps each stream's messages in order", async () => {
    let inFlight = 0;
    let maxSeen = 0;
    const published: OutboxMessage[] = [];
    const slowAndJittery: OutboxPublisher = {
      async publish(message) {
        inFlight++;
        maxSeen = Math.max(maxSeen, inFlight);
        await new Promise((r) => setTimeout(r, 1 + Math.floor(Math.random() * 5)));
        inFlight--;
        published.push(message);
      },
    };
    const streams = Array.from({ length: 4 }, () => `c-${randomUUID()}`);
    for (let round = 0; round < 5; round++) {
      for (const streamId of streams) await store.appendToStream(streamId, round * 2, [event("A"), event("B")]);
    }
    await relay(slowAndJittery, 100, 32).start();
    await vi.waitFor(() => expect(published).toHaveLength(40), { timeout: 10_000, interval: 20 });
    for (const streamId of streams) {
      const versions = published.filter((m) => m.streamId === streamId).map((m) => m.streamVersion);
      expect(versions).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    }
    expect(maxSeen).toBeGreaterThan(1);
    expect(maxSeen).toBeLessThanOrEqual(streams.length);
  });

  it("hands each row to exactly one of two relays running side by side", async () => {
    const a = new RecordingPublisher();
    const b = new RecordingPublisher();
    await relay(a, 5).start();
    await relay(b, 5).start();
    const appended: string[] = [];
    for (let i = 0; i < 20; i++) {
      const batch = [event("X"), event("Y"), event("Z")];
      appended.push(...batch.map((e) => e.eventId));
      await store.appendToStream(`c-${randomUUID()}`, "no-stream", batch);
    }
    await vi.waitFor(async () => expect(await unsentEventIds()).toEqual([]), { timeout: 20_000, interval: 50 });
    const all = [...a.ids(), ...b.ids()];
    expect(all.sort()).toEqual([...appended].sort());
  });

  it("re-establishes its LISTEN connection when it is killed and is woken again", async () => {
    const publisher = new RecordingPublisher();
    await relay(publisher).start();
    const killed = await sql<{ ok: boolean }>`
      SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
      WHERE datname = current_database() AND query ILIKE 'LISTEN%'`.execute(tdb.db);
    expect(killed.rows.map((r) => r.ok)).toEqual([true]);

    // Wait until a new LISTEN connection exists, then append: only its notification can wake the relay.
    await vi.waitFor(
      async () => {
        const r = await sql<{ n: string }>`
          SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'`.execute(tdb.db);
        expect(r.rows[0]!.n).toBe("1");
      },
      { timeout: 10_000, interval: 20 },
    );
    const e = event("AfterReconnect");
    await store.appendToStream(`c-${randomUUID()}`, "no-stream", [e]);
    await vi.waitFor(() => expect(publisher.ids()).toEqual([e.eventId]), { timeout: 10_000, interval: 20 });
  });

  it("with settleMs, waits that long after a NOTIFY before publishing", async () => {
    const publisher = new RecordingPublisher();
    const r = createOutboxRelay({ pool: tdb.pool, publisher, recheckIntervalMs: tenMinutes, settleMs: 400 });
    relays.push(r);
    await r.start();
    await new Promise((resolve) => setTimeout(resolve, 500)); // the first round's settle is over
    const e = event("Settled");
    const appendedAt = performance.now();
    await store.appendToStream(`c-${randomUUID()}`, "no-stream", [e]);
    await vi.waitFor(() => expect(publisher.ids()).toEqual([e.eventId]), { timeout: 10_000, interval: 10 });
    expect(performance.now() - appendedAt).toBeGreaterThanOrEqual(400);
  });
});
