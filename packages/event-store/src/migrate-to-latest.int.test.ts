import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { InternalError } from "@shoal/domain";
import { createTestDatabase } from "@shoal/testing";
import type { TestDatabase } from "@shoal/testing";
import { migrateToLatest } from "./index";

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
    const name = `shoal_t_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: tdb.url.replace(/\/[^/]+$/, "/postgres") });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const db = new Kysely<any>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: tdb.url.replace(/\/[^/]+$/, `/${name}`), max: 1 }) }),
    });
    try {
      await sql`CREATE TABLE streams (id int)`.execute(db);
      const error = await migrateToLatest(db).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(InternalError);
      expect((error as Error).message).toMatch(/^migration 0001-events failed: .*already exists/);
      expect((error as Error).cause).toMatchObject({ code: "42P07" });
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
  });
});
