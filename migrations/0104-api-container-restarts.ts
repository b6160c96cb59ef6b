import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * `containers.restart_count`: the automatic restarts made by the container's restart
 * policy since a user last started it (Docker's RestartCount), kept by the containers
 * projection. Existing rows start at 0: no policy restarted anything before this column.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE containers ADD COLUMN restart_count integer NOT NULL DEFAULT 0`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE containers DROP COLUMN restart_count`.execute(db);
}
