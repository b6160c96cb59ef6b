/**
 * The `mount-manager` projection: `ipc_groups`, `ipc_group_members`, `shm_mounts` and the
 * mount-manager's own `mount_manager_containers`, kept from the global log (IPC group
 * events and container events). Rebuildable: `reset` empties all four tables.
 */
import { sql } from "kysely";
import type { Kysely, Transaction } from "kysely";
import type pg from "pg";
import { FOLLOWER_SETTLE_MS, createProjectionRunner } from "@shoal/event-store";
import type { GlobalEvent, Logger, ProjectionRunner } from "@shoal/event-store";

export const PROJECTION_NAME = "mount-manager";

type Data = Record<string, unknown>;

/** Container status as this projection tracks it (coarser than the decider's: enough for names and reconciling). */
const STATUS_AFTER: Record<string, string> = {
  ContainerCreated: "created",
  ContainerStartRequested: "starting",
  ContainerScheduled: "scheduled",
  ContainerIpcPrepared: "ipc-prepared",
  ContainerStarted: "running",
  ContainerPaused: "paused",
  ContainerUnpaused: "running",
  ContainerExited: "exited",
  ContainerStartFailed: "start-failed",
  ContainerRemovalRequested: "removing",
  ContainerRemoved: "removed",
  ContainerDied: "dead",
};

/** Facts that end a container's process (or its start). */
const ENDED = new Set(["ContainerExited", "ContainerStartFailed", "ContainerRemoved", "ContainerDied"]);

export async function applyEvent(event: GlobalEvent, trx: Transaction<any>): Promise<void> {
  const d = event.data as Data;
  const at = event.recordedAt;
  switch (event.type) {
    case "IpcGroupFormed":
      await sql`
        INSERT INTO ipc_groups (owner_id, host, shm_size_bytes, shm_mount_path, status, owner_running, updated_at)
        VALUES (${d.ownerId}, ${d.host}, ${d.shmSizeBytes}, ${d.shmMountPath}, 'active', false, ${at})
        ON CONFLICT (owner_id) DO UPDATE SET host = EXCLUDED.host, shm_size_bytes = EXCLUDED.shm_size_bytes,
          shm_mount_path = EXCLUDED.shm_mount_path, status = 'active', updated_at = EXCLUDED.updated_at`.execute(trx);
      return;
    case "ShmMountCreated":
      await sql`
        INSERT INTO shm_mounts (owner_id, host, path, size_bytes, state, updated_at)
        VALUES (${d.ownerId}, ${d.host}, ${d.path}, ${d.sizeBytes}, 'mounted', ${at})
        ON CONFLICT (owner_id) DO UPDATE SET host = EXCLUDED.host, path = EXCLUDED.path,
          size_bytes = EXCLUDED.size_bytes, state = 'mounted', updated_at = EXCLUDED.updated_at`.execute(trx);
      return;
    case "ShmMountRemoved":
      await sql`UPDATE shm_mounts SET state = 'unmounted', updated_at = ${at} WHERE owner_id = ${d.ownerId}`.execute(trx);
      await sql`UPDATE ipc_groups SET status = 'released', updated_at = ${at} WHERE owner_id = ${d.ownerId}`.execute(trx);
      return;
    case "IpcGroupMemberJoined":
      await sql`
        INSERT INTO ipc_group_members (member_id, owner_id, joined, running, updated_at)
        VALUES (${d.memberId}, ${d.ownerId}, true, false, ${at})
        ON CONFLICT (member_id) DO UPDATE SET owner_id = EXCLUDED.owner_id, joined = true, running = false,
          updated_at = EXCLUDED.updated_at`.execute(trx);
      return;
    case "IpcGroupMemberLeft":
      await sql`
        UPDATE ipc_group_members SET joined = false, running = false, updated_at = ${at}
        WHERE member_id = ${d.memberId} AND owner_id = ${d.ownerId}`.execute(trx);
      return;
  }
  const status = STATUS_AFTER[event.type];
  if (status === undefined) return;
  const id = d.containerId as string;
  if (event.type === "ContainerCreated") {
    await sql`
      INSERT INTO mount_manager_containers (container_id, name, status, updated_at)
      VALUES (${id}, ${d.name}, 'created', ${at})
      ON CONFLICT (container_id) DO NOTHING`.execute(trx);
    return;
  }
  // While a removal is in progress, late facts of the start or exit do not change the status.
  await sql`
    UPDATE mount_manager_containers SET status = ${status}, updated_at = ${at}
    WHERE container_id = ${id} AND (status NOT IN ('removing', 'removed', 'dead') OR ${status} IN ('removed', 'dead'))`.execute(trx);
  if (event.type === "ContainerStarted" || event.type === "ContainerUnpaused") {
    await sql`UPDATE ipc_groups SET owner_running = true, updated_at = ${at} WHERE owner_id = ${id}`.execute(trx);
    await sql`UPDATE ipc_group_members SET running = true, updated_at = ${at} WHERE member_id = ${id} AND joined`.execute(trx);
  } else if (ENDED.has(event.type)) {
    await sql`UPDATE ipc_groups SET owner_running = false, updated_at = ${at} WHERE owner_id = ${id}`.execute(trx);
    await sql`UPDATE ipc_group_members SET running = false, updated_at = ${at} WHERE member_id = ${id}`.execute(trx);
  }
}

export async function resetProjection(trx: Transaction<any>): Promise<void> {
  await sql`DELETE FROM ipc_group_members`.execute(trx);
  await sql`DELETE FROM ipc_groups`.execute(trx);
  await sql`DELETE FROM shm_mounts`.execute(trx);
  await sql`DELETE FROM mount_manager_containers`.execute(trx);
}

export function createIpcGroupProjection(opts: { db: Kysely<any>; pool: pg.Pool; logger?: Logger }): ProjectionRunner {
  return createProjectionRunner({
    name: PROJECTION_NAME,
    db: opts.db,
    pool: opts.pool,
    handle: applyEvent,
    reset: resetProjection,
    // Release and reconcile call catchUp(); ref resolution falls back to the log.
    settleMs: FOLLOWER_SETTLE_MS,
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
}
