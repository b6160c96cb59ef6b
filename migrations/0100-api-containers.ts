import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * The api's tables.
 *
 * `containers`: the containers projection (Inspect, List), one row per container not yet
 * removed; kept by the api's projection runner, dropped and rebuilt from the log.
 *
 * `container_names`: the name (and id) reservations, written in the same transaction as
 * ContainerCreated so two creates with one name cannot both win; released when the
 * container is removed. Every name or id-prefix lookup reads it.
 *
 * `container_oom_reports`: ContainerOom reports per container incarnation (pid), so the
 * exit that follows is recorded with oomKilled even across an api restart.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE containers (
      id text PRIMARY KEY,
      name text NOT NULL,
      status text NOT NULL,
      host text,
      pid integer,
      exit_code integer,
      error text,
      oom_killed boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL,
      started_at timestamptz,
      finished_at timestamptz,
      host_config jsonb NOT NULL,
      source jsonb NOT NULL,
      args jsonb NOT NULL,
      env jsonb NOT NULL,
      ipc_plan jsonb,
      runtime jsonb,
      config_version integer,
      ipc_namespace_inode bigint,
      ipc_owner_id text
    )`.execute(db);
  await sql`CREATE INDEX containers_created_idx ON containers (created_at, id)`.execute(db);
  await sql`CREATE INDEX containers_owner_idx ON containers (ipc_owner_id) WHERE ipc_owner_id IS NOT NULL`.execute(db);
  await sql`
    CREATE TABLE container_names (
      name text PRIMARY KEY,
      container_id text NOT NULL UNIQUE,
      reserved_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX container_names_id_prefix_idx ON container_names (container_id text_pattern_ops)`.execute(db);
  await sql`
    CREATE TABLE container_oom_reports (
      container_id text NOT NULL,
      pid integer NOT NULL,
      reported_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (container_id, pid)
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE container_oom_reports`.execute(db);
  await sql`DROP TABLE container_names`.execute(db);
  await sql`DROP TABLE containers`.execute(db);
}
