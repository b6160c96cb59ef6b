import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { sql } from "kysely";
import { AbortedError, AlreadyExistsError, InvalidArgumentError } from "@shoal/domain";
import { createTestDatabase } from "@shoal/testing";
import type { TestDatabase } from "@shoal/testing";
import { createEventStore, globalCursorStart } from "./index";
import type { EventStore, GlobalCursor, GlobalEvent, NewEvent } from "./index";

function event(type: string, data: unknown = {}): NewEvent {
  return { eventId: randomUUID(), type, schemaVersion: 1, data, metadata: { correlationId: "c-1" } };
}

/** Waits until some session on this database is blocked on a lock (a racing appender). */
async function untilAnAppenderWaitsOnALock(): Promise<void> {
  for (;;) {
    const r = await sql<{ n: string }>`
      SELECT count(*) AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock'`.execute(tdb.db);
    if (r.rows[0]!.n !== "0") return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function readAllFrom(store: EventStore, after: GlobalCursor): Promise<{ events: GlobalEvent[]; cursor: GlobalCursor }> {
  const events: GlobalEvent[] = [];
  let cursor = after;
  for (;;) {
    const page = await store.readAll({ after: cursor, limit: 3 });
    events.push(...page.events);
    cursor = page.cursor;
    if (page.events.length < 3) return { events, cursor };
  }
}

let tdb: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  tdb = await createTestDatabase();
  store = createEventStore({ db: tdb.db });
});

/** Releases transactions a test held open, also when it failed before releasing them itself. */
const heldOpen: Array<() => void> = [];
afterEach(() => {
  for (const release of heldOpen.splice(0)) release();
});

afterAll(async () => {
  await tdb?.drop();
});

describe("appendToStream and readStream", () => {
  it("appends with versions from 1, reads them back in order with data and metadata", async () => {
    const streamId = `container-${randomUUID()}`;
    const first = await store.appendToStream(streamId, "no-stream", [event("ContainerCreated", { name: "web" })]);
    expect(first.nextVersion).toBe(1);
    const more = await store.appendToStream(streamId, 1, [event("ContainerStartRequested"), event("ContainerStarted", { pid: 42 })]);
    expect(more.nextVersion).toBe(3);
    expect(more.globalPositions).toHaveLength(2);
    expect(more.globalPositions[1]! > more.globalPositions[0]!).toBe(true);

    const events = await store.readStream(streamId);
    expect(events.map((e) => [e.streamVersion, e.type])).toEqual([
      [1, "ContainerCreated"],
      [2, "ContainerStartRequested"],
      [3, "ContainerStarted"],
    ]);
    expect(events[0]!.data).toEqual({ name: "web" });
    expect(events[2]!.data).toEqual({ pid: 42 });
    expect(events[0]!.metadata).toEqual({ correlationId: "c-1" });
    expect(events[0]!.recordedAt).toBeInstanceOf(Date);
    expect(events[1]!.globalPosition).toBe(more.globalPositions[0]);

    expect((await store.readStream(streamId, { fromVersion: 2, limit: 1 })).map((e) => e.streamVersion)).toEqual([2]);
    expect(await store.readStream(`missing-${randomUUID()}`)).toEqual([]);
  });

  it("refuses a wrong expected version with AbortedError naming both versions, writing nothing", async () => {
    const streamId = `s-${randomUUID()}`;
    await store.appendToStream(streamId, "no-stream", [event("A"), event("B")]);
    await expect(store.appendToStream(streamId, 1, [event("C")])).rejects.toThrow(
      new AbortedError(`stream ${streamId} expected version 1 but is at version 2`),
    );
    await expect(store.appendToStream(streamId, "no-stream", [event("C")])).rejects.toBeInstanceOf(AbortedError);
    await expect(store.appendToStream(`new-${randomUUID()}`, 3, [event("C")])).rejects.toThrow(/but is at version 0/);
    expect(await store.readStream(streamId)).toHaveLength(2);
    // Only the first append's outbox row (versions 1..2) exists: the refused ones wrote none.
    const outboxRows = await sql<{ from_version: number; to_version: number }>`
      SELECT from_version, to_version FROM outbox WHERE stream_id = ${streamId}`.execute(tdb.db);
    expect(outboxRows.rows).toEqual([{ from_version: 1, to_version: 2 }]);
  });

  it("appends after whatever is there with \"any\"", async () => {
    const streamId = `s-${randomUUID()}`;
    expect((await store.appendToStream(streamId, "any", [event("A")])).nextVersion).toBe(1);
    expect((await store.appendToStream(streamId, "any", [event("B"), event("C")])).nextVersion).toBe(3);
  });

  it("rejects a recorded event id with AlreadyExistsError and malformed input with InvalidArgumentError", async () => {
    const streamId = `s-${randomUUID()}`;
    const e = event("A");
    await store.appendToStream(streamId, "any", [e]);
    await expect(store.appendToStream(streamId, "any", [e])).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(store.appendToStream(streamId, "any", [])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(store.appendToStream(streamId, "any", [{ ...event("A"), eventId: "nope" }])).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    expect(await store.readStream(streamId)).toHaveLength(1);
  });

  it("lets exactly one of two concurrent appenders with the same expected version win", async () => {
    for (const expected of ["no-stream", 1] as const) {
      const streamId = `race-${randomUUID()}`;
      if (expected === 1) await store.appendToStream(streamId, "no-stream", [event("Created")]);
      // Appender A holds its transaction open after appending, so B is certainly concurrent.
      let releaseA!: () => void;
      const aMayCommit = new Promise<void>((r) => (releaseA = r));
      heldOpen.push(() => releaseA()); // commits even when an assertion below fails
      let aAppended!: () => void;
      const aHasAppended = new Promise<void>((r) => (aAppended = r));
      const a = tdb.db.transaction().execute(async (trx) => {
        await store.appendToStream(streamId, expected, [event("ByA")], { trx });
        aAppended();
        await aMayCommit;
      });
      await aHasAppended;
      // B's outcome is captured at once: it may settle while the test still awaits A.
      const b = store.appendToStream(streamId, expected, [event("ByB")]).then(
        () => undefined,
        (err: unknown) => err,
      );
      await untilAnAppenderWaitsOnALock(); // B is blocked on A's stream row: a real race
      releaseA();
      await a;
      const error = await b;
      expect(error).toBeInstanceOf(AbortedError);
      const types = (await store.readStream(streamId)).map((e) => e.type);
      expect(types.filter((t) => t.startsWith("By"))).toEqual(["ByA"]);
    }
  });

  it("appends inside a caller's transaction: rolled back with it, and a conflict leaves the transaction usable", async () => {
    const streamId = `trx-${randomUUID()}`;
    await sql`CREATE TABLE IF NOT EXISTS trx_probe (id text PRIMARY KEY)`.execute(tdb.db);
    await expect(
      tdb.db.transaction().execute(async (trx) => {
        await store.appendToStream(streamId, "no-stream", [event("A")], { trx });
        await sql`INSERT INTO trx_probe VALUES (${streamId})`.execute(trx);
        throw new Error("caller gives up");
      }),
    ).rejects.toThrow("caller gives up");
    expect(await store.readStream(streamId)).toEqual([]);

    await store.appendToStream(streamId, "no-stream", [event("A")]);
    await tdb.db.transaction().execute(async (trx) => {
      await expect(store.appendToStream(streamId, "no-stream", [event("B")], { trx })).rejects.toBeInstanceOf(AbortedError);
      await sql`INSERT INTO trx_probe VALUES (${streamId})`.execute(trx);
      await store.appendToStream(streamId, 1, [event("B")], { trx });
    });
    expect((await store.readStream(streamId)).map((e) => e.type)).toEqual(["A", "B"]);
  });
});

describe("readStreams", () => {
  it("appends to several streams in one call, each at its own expected version, in the order given", async () => {
    const group = `ipcgroup-${randomUUID()}`;
    const container = `container-${randomUUID()}`;
    await store.appendToStream(container, "no-stream", [event("ContainerCreated")]);
    const [g, c] = await store.appendToStreams([
      { streamId: group, expectedVersion: "no-stream", events: [event("IpcGroupFormed"), event("ShmMountCreated")] },
      { streamId: container, expectedVersion: 1, events: [event("ContainerIpcPrepared")] },
    ]);
    expect(g!.nextVersion).toBe(2);
    expect(c!.nextVersion).toBe(2);
    expect(g!.globalPositions[1]! < c!.globalPositions[0]!).toBe(true);
    expect((await store.readStream(group)).map((e) => e.type)).toEqual(["IpcGroupFormed", "ShmMountCreated"]);
    expect((await store.readStream(container)).map((e) => e.type)).toEqual(["ContainerCreated", "ContainerIpcPrepared"]);
    const outbox = await sql<{ stream_id: string }>`SELECT stream_id FROM outbox WHERE stream_id IN (${group}, ${container}) ORDER BY id`.execute(tdb.db);
    // One outbox row per append, in commit order: the create, then the group's, then the container's.
    expect(outbox.rows.map((r) => r.stream_id)).toEqual([container, group, container]);
  });

  it("writes nothing on any stream when one is not at its expected version or an event id is recorded", async () => {
    const group = `ipcgroup-${randomUUID()}`;
    const container = `container-${randomUUID()}`;
    const created = event("ContainerCreated");
    await store.appendToStream(container, "no-stream", [created]);
    const err = await store
      .appendToStreams([
        { streamId: group, expectedVersion: "no-stream", events: [event("IpcGroupFormed")] },
        { streamId: container, expectedVersion: 7, events: [event("ContainerIpcPrepared")] },
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as Error).message).toContain(container);
    await expect(
      store.appendToStreams([
        { streamId: group, expectedVersion: "no-stream", events: [event("IpcGroupFormed")] },
        { streamId: container, expectedVersion: 1, events: [created] },
      ]),
    ).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(await store.readStream(group)).toEqual([]);
    expect((await store.readStream(container)).map((e) => e.type)).toEqual(["ContainerCreated"]);
  });

  it("reads several streams in one call, each from its own version, missing ones as []", async () => {
    const a = `rs-a-${randomUUID()}`;
    const b = `rs-b-${randomUUID()}`;
    const missing = `rs-none-${randomUUID()}`;
    await store.appendToStream(a, "no-stream", [event("A1"), event("A2"), event("A3")]);
    await store.appendToStream(b, "no-stream", [event("B1")]);
    const read = await store.readStreams([{ streamId: a, fromVersion: 2 }, { streamId: b }, { streamId: missing }]);
    expect([...read.keys()]).toEqual([a, b, missing]);
    expect(read.get(a)!.map((e) => [e.type, e.streamVersion])).toEqual([
      ["A2", 2],
      ["A3", 3],
    ]);
    expect(read.get(b)).toEqual(await store.readStream(b));
    expect(read.get(missing)).toEqual([]);
    await expect(store.readStreams([{ streamId: a, fromVersion: 0 }])).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe("readAll", () => {
  // Any open transaction with an id in this database (and, for a moment, one elsewhere whose
  // database pg_stat_activity could not prove) can withhold events for a while. So these tests keep reading from
  // their cursor until what they wait for has been released, never re-reading from the start.
  async function readOnUntil(
    after: GlobalCursor,
    done: (seen: GlobalEvent[]) => boolean,
  ): Promise<{ events: GlobalEvent[]; cursor: GlobalCursor }> {
    const seen: GlobalEvent[] = [];
    let cursor = after;
    await vi.waitFor(
      async () => {
        const page = await readAllFrom(store, cursor);
        seen.push(...page.events);
        cursor = page.cursor;
        expect(done(seen)).toBe(true);
      },
      { timeout: 45_000, interval: 25 },
    );
    return { events: seen, cursor };
  }

  it("pages through every committed event in order with a resumable cursor", async () => {
    const streams = [`p-${randomUUID()}`, `p-${randomUUID()}`];
    const appended: string[] = [];
    for (let i = 0; i < 7; i++) {
      const e = event(`E${i}`);
      appended.push(e.eventId);
      await store.appendToStream(streams[i % 2]!, "any", [e]);
    }
    const ours = (events: GlobalEvent[]) => events.filter((e) => streams.includes(e.streamId));
    const { events, cursor } = await readOnUntil(globalCursorStart, (seen) => ours(seen).length >= 7);
    expect(ours(events).map((e) => e.eventId)).toEqual(appended);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
    expect(new Set(events.map((e) => e.cursor)).size).toBe(events.length);
    expect((await store.readAll({ after: cursor, limit: 10 })).events).toEqual([]);

    // Once released, always released: resuming from a returned cursor needs no waiting.
    const fourth = ours(events)[3]!;
    const resumed = await readAllFrom(store, fourth.cursor);
    expect(resumed.events.map((e) => e.eventId)).toEqual(appended.slice(4));
  });

  it("never skips an event whose transaction commits after a later-numbered one", async () => {
    const eventA = event("FromA");
    const eventB = event("FromB");
    let releaseA!: () => void;
    const aMayCommit = new Promise<void>((r) => (releaseA = r));
    heldOpen.push(() => releaseA()); // commits even when an assertion below fails
    let aAppended!: (positions: bigint[]) => void;
    const aHasAppended = new Promise<bigint[]>((r) => (aAppended = r));
    const a = tdb.db.transaction().execute(async (trx) => {
      const result = await store.appendToStream(`ooo-a-${randomUUID()}`, "no-stream", [eventA], { trx });
      aAppended(result.globalPositions);
      await aMayCommit;
    });
    const [positionA] = await aHasAppended;
    const b = await store.appendToStream(`ooo-b-${randomUUID()}`, "no-stream", [eventB]);
    expect(b.globalPositions[0]! > positionA!).toBe(true); // A holds the lower position but is not committed

    // Between B's commit and A's: B is committed but must not be released ahead of A.
    const between = await readAllFrom(store, globalCursorStart);
    expect(between.events.map((e) => e.eventId)).not.toContain(eventA.eventId);
    expect(between.events.map((e) => e.eventId)).not.toContain(eventB.eventId);
    expect((await store.readAll({ after: between.cursor, limit: 1 })).withheld).toBe(true);

    releaseA();
    await a;
    const after = await readOnUntil(between.cursor, (seen) => seen.some((e) => e.eventId === eventB.eventId));
    const seen = [...between.events, ...after.events].map((e) => e.eventId);
    expect(seen.filter((id) => id === eventA.eventId || id === eventB.eventId)).toEqual([eventA.eventId, eventB.eventId]);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("is held back by an open transaction in its own database, not by one in another database", async () => {
    const other = await createTestDatabase();
    let releaseOther!: () => void;
    let releaseOwn!: () => void;
    const otherMayCommit = new Promise<void>((r) => (releaseOther = r));
    const ownMayCommit = new Promise<void>((r) => (releaseOwn = r));
    heldOpen.push(() => releaseOther(), () => releaseOwn());
    try {
      // Both transactions take a transaction id and stay open; neither writes events.
      let started = 0;
      let bothStarted!: () => void;
      const bothHaveIds = new Promise<void>((r) => (bothStarted = r));
      const holdOpen = (db: typeof tdb.db, until: Promise<void>) =>
        db.transaction().execute(async (trx) => {
          await sql`SELECT pg_current_xact_id()`.execute(trx);
          if (++started === 2) bothStarted();
          await until;
        });
      const inOther = holdOpen(other.db, otherMayCommit);
      const inOwn = holdOpen(tdb.db, ownMayCommit);
      await bothHaveIds;

      const caughtUp = await readAllFrom(store, globalCursorStart);
      const e = event("WhileOthersAreOpen");
      await store.appendToStream(`h-${randomUUID()}`, "no-stream", [e]);
      const whileOwnOpen = await store.readAll({ after: caughtUp.cursor, limit: 10 });
      expect(whileOwnOpen.events.map((x) => x.eventId)).not.toContain(e.eventId);
      expect(whileOwnOpen.withheld).toBe(true);

      releaseOwn();
      await inOwn;
      // The other database's transaction is still open; it cannot write here, so it is ignored.
      const afterOwnEnded = await store.readAll({ after: caughtUp.cursor, limit: 10 });
      expect(afterOwnEnded.events.map((x) => x.eventId)).toContain(e.eventId);

      releaseOther();
      await inOther;
    } finally {
      releaseOther();
      releaseOwn();
      await other.drop();
    }
  });

  it("rejects a cursor it did not produce", async () => {
    await expect(store.readAll({ after: "12" as GlobalCursor, limit: 1 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
