import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * CPUs in the api's hosts projection (`api-hosts`, 0102), for ListHosts.
 * `api_hosts.nano_cpus`: what the registration in force offers, in nano-CPUs; NULL when it
 * reported none. `api_placements.reserved_nano_cpus`: ContainerScheduled's
 * `reservedNanoCpus`; 0 for a placement recorded before the field. Rebuildable as 0102.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE api_hosts ADD COLUMN nano_cpus bigint NULL`.execute(db);
  await sql`ALTER TABLE api_placements ADD COLUMN reserved_nano_cpus bigint NOT NULL DEFAULT 0`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE api_placements DROP COLUMN reserved_nano_cpus`.execute(db);
  await sql`ALTER TABLE api_hosts DROP COLUMN nano_cpus`.execute(db);
}
