import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * The scheduler's view of hosts, kept from the `host-<name>` streams (HostRegistered,
 * HostLost) plus `last_heartbeat`, which the scheduler writes from core-NATS heartbeats
 * (not events; a rebuild starts it again from `registered_at`). Rebuildable: the
 * `scheduler` projection resets it. `registered_at` names the registration in force.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE hosts (
      name text PRIMARY KEY,
      status text NOT NULL CHECK (status IN ('ready', 'lost')),
      capabilities jsonb NOT NULL,
      memory_bytes bigint NOT NULL,
      registered_at timestamptz NOT NULL,
      last_heartbeat timestamptz NULL,
      lost_at timestamptz NULL,
      lost_reason text NULL
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE hosts`.execute(db);
}
