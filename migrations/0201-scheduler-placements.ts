import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * Containers holding a reservation on a host: inserted when ContainerScheduled is
 * recorded, deleted when the container exits, fails to start, dies or is removed.
 * `scheduled_version` is the stream version of the ContainerScheduled that made the
 * row; a release deletes only rows made before it, so a late release never frees a
 * newer placement of a restarted container. `reserved_bytes` is memory plus the shm
 * tmpfs the container brought (an IPC group's shm counts once, on its owner).
 * Rebuildable: the `scheduler` projection resets it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE placements (
      container_id text PRIMARY KEY,
      container_name text NOT NULL,
      host text NOT NULL,
      reserved_bytes bigint NOT NULL,
      scheduled_version integer NOT NULL,
      scheduled_at timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX placements_host ON placements (host)`.execute(db);
  await sql`CREATE INDEX placements_container_name ON placements (container_name)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE placements`.execute(db);
}
