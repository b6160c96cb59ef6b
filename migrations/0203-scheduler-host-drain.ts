import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * `hosts.draining`: `shoal host drain` is in force on the host (HostDrainRequested, until
 * HostActivated); no new placement goes there. A drain outlives the host's new
 * registrations, so the registration upsert leaves the column alone. Rebuildable as 0200.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE hosts ADD COLUMN draining boolean NOT NULL DEFAULT false`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE hosts DROP COLUMN draining`.execute(db);
}
