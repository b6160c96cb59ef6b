import { randomBytes } from "node:crypto";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { migrateToLatest } from "@shoal/event-store";

export interface TestDatabase {
  /** Connection URL of the fresh database, e.g. for a service's SHOAL_DATABASE_URL. */
  url: string;
  /**
   * Kysely over `pool`; the schema is migrated to the latest version. Untyped on purpose: a
   * test may look at every owner's tables. Assign it to the owner's typed Kysely
   * (`const db: Kysely<ApiDatabase> = database.db`) to query that owner's tables with types.
   */
  db: Kysely<any>;
  /** The pg pool behind `db` (max 5 connections); its `options` can build dedicated clients. */
  pool: pg.Pool;
  /** Closes `db`/`pool` and drops the database, terminating any connection still open to it (also one a failed test left in a transaction). */
  drop(): Promise<void>;
}

function serverConfig(): { host: string; port: number; user: string } {
  return {
    host: process.env.PGHOST || "127.0.0.1",
    port: Number(process.env.PGPORT || 5432),
    user: process.env.PGUSER || "postgres",
  };
}

async function withAdminClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const { host, port, user } = serverConfig();
  const client = new pg.Client({ host, port, user, database: "postgres", connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw new Error(
      `PostgreSQL not reachable at ${host}:${port} as user ${user} — run \`npm test\` which starts it (${(err as Error).message})`,
      { cause: err },
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Creates a uniquely named database `shoal_t_<random>` on PGHOST/PGPORT/PGUSER (default
 * 127.0.0.1:5432, postgres, trust auth) and migrates it. Throws an Error naming the
 * prerequisite when PostgreSQL does not answer. Call `drop()` in afterAll.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const { host, port, user } = serverConfig();
  const name = `shoal_t_${randomBytes(6).toString("hex")}`;
  await withAdminClient((client) => client.query(`CREATE DATABASE ${name}`));
  const url = `postgres://${encodeURIComponent(user)}@${host}:${port}/${name}`;
  const pool = new pg.Pool({ host, port, user, database: name, max: 5 });
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  let dropped = false;
  const drop = async (): Promise<void> => {
    if (dropped) return;
    dropped = true;
    // destroy() waits for checked-out clients; a test that failed mid-transaction never returns
    // its client, so stop waiting after 5 s and let the FORCE drop end that connection.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      db.destroy().catch(() => {}),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, 5_000))),
    ]);
    clearTimeout(timer);
    await withAdminClient(async (client) => {
      // pg's pool.end() resolves before its sockets are closed; a FORCE drop that kills a
      // closing connection surfaces as an uncaught error in the test. Give them a moment first.
      for (let i = 0; i < 100; i++) {
        const open = await client.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1`, [name]);
        if (open.rows[0].n === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    });
  };
  try {
    await migrateToLatest(db);
  } catch (err) {
    await drop().catch(() => {});
    throw err;
  }
  return { url, db, pool, drop };
}
