import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * CPUs in the scheduler's capacity view. `hosts.nano_cpus`: the CPUs the registration in
 * force offers, in nano-CPUs; NULL when it reported none (a registration recorded before
 * agents reported CPUs), and CPUs then do not limit placement on that host.
 * `placements.reserved_nano_cpus`: the CPUs (`--cpus`) a placement holds; 0 for rows made
 * before it, as for containers without a CPU limit. Rebuildable as 0200 and 0201.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE hosts ADD COLUMN nano_cpus bigint NULL`.execute(db);
  await sql`ALTER TABLE placements ADD COLUMN reserved_nano_cpus bigint NOT NULL DEFAULT 0`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE placements DROP COLUMN reserved_nano_cpus`.execute(db);
  await sql`ALTER TABLE hosts DROP COLUMN nano_cpus`.execute(db);
}
