import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * The api's hosts projection (`api-hosts`), what ListHosts answers from; the api no longer
 * reads the scheduler's `hosts` and `placements`. Rebuildable from the log except for
 * `last_heartbeat`, which the api writes from the hosts' core-NATS heartbeats (a rebuild
 * starts it again from NULL).
 *
 * `api_hosts`: one row per host, following its newest HostRegistered (`registered_at`
 * names it); HostLost of that registration makes it lost.
 *
 * `api_placements`: the containers holding a reservation on a host, from ContainerScheduled
 * (its `reservedBytes`) until ContainerExited, ContainerStartFailed, ContainerRemoved or
 * ContainerDied; a release removes only a row scheduled before it (`scheduled_version`).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE api_hosts (
      name text PRIMARY KEY,
      status text NOT NULL CHECK (status IN ('ready', 'lost')),
      capabilities jsonb NOT NULL,
      memory_bytes bigint NOT NULL,
      registered_at timestamptz NOT NULL,
      last_heartbeat timestamptz NULL
    )`.execute(db);
  await sql`
    CREATE TABLE api_placements (
      container_id text PRIMARY KEY,
      host text NOT NULL,
      reserved_bytes bigint NOT NULL,
      scheduled_version integer NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX api_placements_host ON api_placements (host)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE api_placements`.execute(db);
  await sql`DROP TABLE api_hosts`.execute(db);
}
