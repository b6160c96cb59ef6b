// Creates the Shoal database when it is missing and migrates it to the latest schema.
// Reads SHOAL_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/shoal). Exits 0 on
// success, 1 with a one-line reason otherwise.
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { migrateToLatest } from "@shoal/event-store";

const url = process.env.SHOAL_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/shoal";

async function ensureDatabase(target: URL): Promise<void> {
  const name = decodeURIComponent(target.pathname.replace(/^\//, ""));
  if (!name) throw new Error(`SHOAL_DATABASE_URL names no database: ${url}`);
  const admin = new URL(target);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`PostgreSQL not reachable at ${target.host}: ${(err as Error).message} — run \`npm start\` which starts it`);
  }
  try {
    const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (exists.rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
        console.log(`created database ${name}`);
      } catch (err) {
        // Another migrator created it first.
        if ((err as { code?: string }).code !== "42P04") throw err;
      }
    }
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const target = new URL(url);
  await ensureDatabase(target);
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }) });
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }
  target.password = "";
  console.log(`database ${target.toString()} is at the latest schema`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`migrate: ${(err as Error)?.message ?? err}`);
    process.exit(1);
  },
);
