import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * `api_hosts.draining`: `shoal host drain` is in force on the host (HostDrainRequested,
 * until HostActivated); ListHosts shows it as `draining`. Kept across the host's new
 * registrations. Rebuildable as 0102.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE api_hosts ADD COLUMN draining boolean NOT NULL DEFAULT false`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE api_hosts DROP COLUMN draining`.execute(db);
}
