import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * The output of `--rm` containers, saved by the api just before it deletes them on their
 * host, so an attached client (`shoal run --rm`) that fetches the output after the exit
 * still gets all of it. Kept for a few minutes (the api prunes older rows).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE removed_container_output (
      container_id text PRIMARY KEY,
      output bytea NOT NULL,
      saved_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE removed_container_output`.execute(db);
}
