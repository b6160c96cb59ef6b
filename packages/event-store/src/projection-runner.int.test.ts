import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { sql } from "kysely";
import type { Transaction } from "kysely";
import { InternalError } from "@shoal/domain";
import { createTestDatabase } from "@shoal/testing";
import type { TestDatabase } from "@shoal/testing";
import { createEventStore, createProjectionRunner, globalCursorStart } from "./index";
import type { EventStore, GlobalEvent, NewEvent, ProjectionRunner } from "./index";

function event(type: string): NewEvent {
  return { eventId: randomUUID(), type, schemaVersion: 1, data: {}, metadata: {} };
}

let tdb: TestDatabase;
let store: EventStore;
const runners: ProjectionRunner[] = [];

/** A sample projection: how many events of each type the log holds, in table `table`. */
function typeCounter(
  table: string,
  opts: { failOn?: (event: GlobalEvent) => boolean; batchSize?: number } = {},
): ProjectionRunner {
  const runner = createProjectionRunner({
    name: `type-counts:${table}`,
    db: tdb.db,
    pool: tdb.pool,
    batchSize: opts.batchSize ?? 4,
    recheckIntervalMs: 600_000,
    async handle(e: GlobalEvent, trx: Transaction<any>) {
      if (opts.failOn?.(e)) throw new Error(`cannot count ${e.type}`);
      await sql`INSERT INTO ${sql.table(table)} (type, n) VALUES (${e.type}, 1)
        ON CONFLICT (type) DO UPDATE SET n = ${sql.table(table)}.n + 1`.execute(trx);
    },
    async reset(trx: Transaction<any>) {
      await sql`DELETE FROM ${sql.table(table)}`.execute(trx);
    },
  });
  runners.push(runner);
  return runner;
}

async function createCountTable(): Promise<string> {
  const table = `type_counts_${randomUUID().replaceAll("-", "")}`;
  await sql`CREATE TABLE ${sql.table(table)} (type text PRIMARY KEY, n integer NOT NULL)`.execute(tdb.db);
  return table;
}

async function counts(table: string): Promise<Record<string, number>> {
  const r = await sql<{ type: string; n: number }>`SELECT type, n FROM ${sql.table(table)} ORDER BY type`.execute(tdb.db);
  return Object.fromEntries(r.rows.map((row) => [row.type, row.n]));
}

/** The truth the projection must equal: counted straight from the events table. */
async function countsInLog(): Promise<Record<string, number>> {
  const r = await sql<{ type: string; n: number }>`SELECT type, count(*)::int AS n FROM events GROUP BY type ORDER BY type`.execute(
    tdb.db,
  );
  return Object.fromEntries(r.rows.map((row) => [row.type, row.n]));
}

/**
 * Waits until every event in this database has been released to readers. The horizon is
 * conservative (an open transaction not proven to be in another database counts), so events
 * can be withheld for a while; once
 * released they stay released, and what a test does afterwards is deterministic.
 */
async function untilLogReleased(): Promise<void> {
  await vi.waitFor(
    async () => {
      let cursor = globalCursorStart;
      let released = 0;
      for (;;) {
        const page = await store.readAll({ after: cursor, limit: 1000 });
        released += page.events.length;
        cursor = page.cursor;
        if (page.events.length < 1000) break;
      }
      const total = await sql<{ n: number }>`SELECT count(*)::int AS n FROM events`.execute(tdb.db);
      expect(released).toBe(total.rows[0]!.n);
    },
    { timeout: 45_000, interval: 25 },
  );
}

/**
 * For a failure message: where projection `name` stands against the log. An event at or before
 * its checkpoint that the projection lacks was skipped (a correctness bug); events after it that
 * readAll does not release are held back by the listed transactions of this database (a wait).
 */
async function whereProjectionStands(name: string): Promise<string> {
  const cp = await sql<{ transaction_id: string; global_position: string }>`
    SELECT transaction_id::text AS transaction_id, global_position FROM projection_checkpoints WHERE name = ${name}`.execute(tdb.db);
  const checkpoint = cp.rows[0] ?? { transaction_id: "0", global_position: "0" };
  const events = await sql<{ position: string; type: string; upto: boolean }>`
    SELECT transaction_id::text || '.' || global_position AS position, type,
           (transaction_id, global_position) <= (${checkpoint.transaction_id}::xid8, ${checkpoint.global_position}::bigint) AS upto
    FROM events ORDER BY transaction_id, global_position`.execute(tdb.db);
  const page = await store.readAll({
    after: `${checkpoint.transaction_id}.${checkpoint.global_position}` as typeof globalCursorStart,
    limit: 10_000,
  });
  const open = await sql`
    SELECT pid, backend_xid::text AS xid, state, left(query, 80) AS query FROM pg_stat_activity
    WHERE datname = current_database() AND backend_xid IS NOT NULL`.execute(tdb.db);
  return JSON.stringify({
    checkpoint: `${checkpoint.transaction_id}.${checkpoint.global_position}`,
    lateEvents: events.rows.filter((e) => e.type === "Late"),
    eventsUpToCheckpoint: events.rows.filter((e) => e.upto).length,
    eventsAfterCheckpoint: events.rows.filter((e) => !e.upto).length,
    releasedAfterCheckpoint: page.events.length,
    withheld: page.withheld,
    openTransactionsHere: open.rows,
  });
}

beforeAll(async () => {
  tdb = await createTestDatabase();
  store = createEventStore({ db: tdb.db });
});

afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()));
});

/** Releases transactions a test held open, also when it failed before releasing them itself. */
const heldOpen: Array<() => void> = [];
afterEach(() => {
  for (const release of heldOpen.splice(0)) release();
});

afterAll(async () => {
  await tdb?.drop();
});

describe("projection runner", () => {
  it("follows appends live, and a rebuild from the log yields the same table", async () => {
    const table = await createCountTable();
    const runner = typeCounter(table);
    await runner.start();

    // Several concurrent appenders, plus one transaction that takes the lower position and commits last.
    let releaseLate!: () => void;
    const lateMayCommit = new Promise<void>((r) => (releaseLate = r));
    heldOpen.push(() => releaseLate()); // commits even when an assertion below fails
    let lateAppended!: () => void;
    const lateHasAppended = new Promise<void>((r) => (lateAppended = r));
    const late = tdb.db.transaction().execute(async (trx) => {
      await store.appendToStream(`late-${randomUUID()}`, "no-stream", [event("Late"), event("Late")], { trx });
      lateAppended();
      await lateMayCommit;
    });
    await lateHasAppended;
    const types = ["ContainerCreated", "ContainerStarted", "ContainerStopped"];
    await Promise.all(
      Array.from({ length: 6 }, async (_, worker) => {
        const streamId = `c-${worker}-${randomUUID()}`;
        let version = 0;
        for (let i = 0; i < 5; i++) {
          const batch = [event(types[i % 3]!), event(types[(i + worker) % 3]!)];
          version = (await store.appendToStream(streamId, version, batch)).nextVersion;
        }
      }),
    );
    releaseLate();
    await late;

    const truth = await countsInLog();
    expect(truth.Late).toBe(2);
    // The horizon is conservative: another session's open transaction can delay the runner a while.
    await vi
      .waitFor(async () => expect(await counts(table)).toEqual(truth), { timeout: 45_000, interval: 50 })
      .catch(async (err: Error) => {
        throw new Error(`${err.message}\nprojection vs log: ${await whereProjectionStands(`type-counts:${table}`)}`, { cause: err });
      });
    const live = await counts(table);

    await runner.stop();
    const replayed = await runner.rebuild();
    expect(replayed).toBe(Object.values(truth).reduce((a, b) => a + b, 0));
    expect(await counts(table)).toEqual(live);
  });

  it("rolls back a failing batch with its checkpoint, so a retry counts every event exactly once", async () => {
    await store.appendToStream(`c-${randomUUID()}`, "no-stream", [event("Fine"), event("Fine"), event("Poison"), event("Fine")]);
    await untilLogReleased();
    const table = await createCountTable();
    let poisoned = true;
    const runner = typeCounter(table, { batchSize: 100, failOn: (e) => poisoned && e.type === "Poison" });
    await expect(runner.catchUp()).rejects.toThrow(InternalError);
    expect(await counts(table)).toEqual({});

    poisoned = false;
    await runner.catchUp();
    expect(await counts(table)).toEqual(await countsInLog());
    expect(await runner.catchUp()).toBe(0);
  });

  it("applies each event once when two runners of one projection catch up at the same time", async () => {
    for (let i = 0; i < 10; i++) {
      await store.appendToStream(`c-${randomUUID()}`, "no-stream", [event("Twice?"), event("Once")]);
    }
    await untilLogReleased();
    const table = await createCountTable();
    const a = typeCounter(table, { batchSize: 3 });
    const b = typeCounter(table, { batchSize: 3 });
    const [fromA, fromB] = await Promise.all([a.catchUp(), b.catchUp()]);
    const truth = await countsInLog();
    expect(fromA + fromB).toBe(Object.values(truth).reduce((x, y) => x + y, 0));
    expect(await counts(table)).toEqual(truth);
  });
});
