import { afterEach, describe, expect, it } from "vitest";
import pg from "pg";
import { createTestDatabase } from "./postgres";

const savedPort = process.env.PGPORT;
afterEach(() => {
  if (savedPort === undefined) delete process.env.PGPORT;
  else process.env.PGPORT = savedPort;
});

async function databaseExists(url: string): Promise<boolean> {
  const name = new URL(url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: url.replace(/\/[^/]+$/, "/postgres") });
  await admin.connect();
  try {
    return (await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 1;
  } finally {
    await admin.end();
  }
}

describe("createTestDatabase", () => {
  it("gives a fresh migrated database that drop() removes", async () => {
    const tdb = await createTestDatabase();
    try {
      expect(new URL(tdb.url).pathname).toMatch(/^\/shoal_t_[0-9a-f]{12}$/);
      const { rows } = await tdb.pool.query("SELECT count(*)::int AS n FROM events");
      expect(rows[0].n).toBe(0);
      expect(await databaseExists(tdb.url)).toBe(true);
    } finally {
      await tdb.drop();
    }
    expect(await databaseExists(tdb.url)).toBe(false);
  });

  it("names the prerequisite when PostgreSQL does not answer", async () => {
    process.env.PGPORT = "1";
    await expect(createTestDatabase()).rejects.toThrow(/PostgreSQL not reachable at [^ ]+:1 .*npm test/);
  });
});
