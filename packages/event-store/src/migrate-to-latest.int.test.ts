import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kysely, Migrator, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { InternalError } from "@shoal/domain";
import { createTestDatabase } from "@shoal/testing";
import type { TestDatabase } from "@shoal/testing";
import { migrateToLatest } from "./index";
import { migrations } from "../../../migrations/index";

/** Runs `fn` on a fresh, empty database that is dropped afterwards. */
async function withEmptyDatabase(fn: (db: Kysely<any>) => Promise<void>): Promise<void> {
  const name = `shoal_t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: tdb.url.replace(/\/[^/]+$/, "/postgres") });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const db = new Kysely<any>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: tdb.url.replace(/\/[^/]+$/, `/${name}`), max: 1 }) }),
  });
  try {
    await fn(db);
  } finally {
    await db.destroy();
    // pool.end() resolves before its socket is closed: let it close before the FORCE drop.
    for (let i = 0; i < 100; i++) {
      const open = await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1", [name]);
      if (open.rows[0].n === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.end();
  }
}

let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await createTestDatabase();
});
afterAll(async () => {
  await tdb?.drop();
});

describe("migrateToLatest", () => {
  it("is a no-op on a migrated database and leaves every table in place", async () => {
    await migrateToLatest(tdb.db);
    const tables = await sql<{ tablename: string }>`
      SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'kysely%' ORDER BY tablename`.execute(tdb.db);
    // Other packages add their own migrations (0100-…); the store's tables must all be there.
    expect(tables.rows.map((r) => r.tablename)).toEqual(
      expect.arrayContaining(["events", "outbox", "processed_events", "projection_checkpoints", "streams"]),
    );
    const fn = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'shoal_append_events'`.execute(tdb.db);
    expect(fn.rows[0]!.n).toBe(1);
  });

  it("names the migration that failed in an InternalError with the database error as cause", async () => {
    // A database where `streams` already exists in another shape: 0001 cannot create it.
    await withEmptyDatabase(async (db) => {
      await sql`CREATE TABLE streams (id int)`.execute(db);
      const error = await migrateToLatest(db).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(InternalError);
      expect((error as Error).message).toMatch(/^migration 0001-events failed: .*already exists/);
      expect((error as Error).cause).toMatchObject({ code: "42P07" });
    });
  });

  it("adds store migrations numbered below ones already applied, keeping unsent outbox rows unsent", async () => {
    await withEmptyDatabase(async (db) => {
      // A database migrated before 0006–0008 existed, with the services' 0100+ already applied.
      const later = new Set(["0006-events-release-order-key", "0007-outbox-per-append", "0008-append-returns-outbox-row"]);
      const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => !later.has(name)));
      const { error } = await new Migrator({ db, provider: { getMigrations: async () => before } }).migrateToLatest();
      expect(error).toBeUndefined();
      const events = ["A", "B", "C"].map((type) => ({ eventId: randomUUID(), type, schemaVersion: 1, data: {}, metadata: {} }));
      await sql`SELECT * FROM shoal_append_events('s-1', 0, ${JSON.stringify(events)}::jsonb)`.execute(db);
      await sql`UPDATE outbox SET sent_at = now() WHERE event_id = ${events[0]!.eventId}`.execute(db);

      await migrateToLatest(db);
      const applied = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(db);
      expect(applied.rows.map((r) => r.name)).toEqual(Object.keys(migrations).sort());
      // Each old per-event row became a one-version range, sent or not as before.
      const rows = await sql<{ from_version: number; to_version: number; sent_through_version: number; sent: boolean }>`
        SELECT from_version, to_version, sent_through_version, sent_at IS NOT NULL AS sent
        FROM outbox WHERE stream_id = 's-1' ORDER BY id`.execute(db);
      expect(rows.rows).toEqual([
        { from_version: 1, to_version: 1, sent_through_version: 1, sent: true },
        { from_version: 2, to_version: 2, sent_through_version: 1, sent: false },
        { from_version: 3, to_version: 3, sent_through_version: 2, sent: false },
      ]);
    });
  });
});
