import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * The mount-manager's projections (services/mount-manager/README.md documents the columns
 * other services may read): IPC groups, their members and the owners' shm mounts, plus the
 * mount-manager's own container index (names for `container:<name>`, statuses for
 * reconciling). All rebuilt from the log by the `mount-manager` projection.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE ipc_groups (
      owner_id text PRIMARY KEY,
      host text NOT NULL,
      shm_size_bytes bigint NOT NULL,
      shm_mount_path text NOT NULL,
      status text NOT NULL CHECK (status IN ('active', 'released')),
      owner_running boolean NOT NULL DEFAULT false,
      updated_at timestamptz NOT NULL
    )`.execute(db);
  await sql`
    CREATE TABLE ipc_group_members (
      member_id text PRIMARY KEY,
      owner_id text NOT NULL,
      joined boolean NOT NULL,
      running boolean NOT NULL DEFAULT false,
      updated_at timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX ipc_group_members_owner ON ipc_group_members (owner_id) WHERE joined OR running`.execute(db);
  await sql`
    CREATE TABLE shm_mounts (
      owner_id text PRIMARY KEY,
      host text NOT NULL,
      path text NOT NULL,
      size_bytes bigint NOT NULL,
      state text NOT NULL CHECK (state IN ('mounted', 'unmounted')),
      updated_at timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX shm_mounts_mounted ON shm_mounts (host) WHERE state = 'mounted'`.execute(db);
  await sql`
    CREATE TABLE mount_manager_containers (
      container_id text PRIMARY KEY,
      name text NOT NULL,
      status text NOT NULL,
      updated_at timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX mount_manager_containers_name ON mount_manager_containers (name) WHERE status <> 'removed'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE mount_manager_containers`.execute(db);
  await sql`DROP TABLE shm_mounts`.execute(db);
  await sql`DROP TABLE ipc_group_members`.execute(db);
  await sql`DROP TABLE ipc_groups`.execute(db);
}
