/**
 * The `mount-manager` projection: `ipc_groups`, `ipc_group_members`, `shm_mounts` and the
 * mount-manager's own `mount_manager_containers`, kept from the global log (IPC group
 * events and container events). Rebuildable: `reset` empties all four tables.
 */
import type { Kysely, Transaction } from "kysely";
import type pg from "pg";
import { isIpcGroupEventType } from "@shoal/domain";
import type { ContainerEvent, IpcGroupEvent } from "@shoal/domain";
import { FOLLOWER_SETTLE_MS, createProjectionRunner } from "@shoal/event-store";
import type { GlobalEvent, Logger, ProjectionRunner } from "@shoal/event-store";
import type { MountManagerDatabase } from "./mount-manager-database";

export const PROJECTION_NAME = "mount-manager";

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

export async function applyEvent(event: GlobalEvent, trx: Transaction<MountManagerDatabase>): Promise<void> {
  const at = event.recordedAt;
  if (isIpcGroupEventType(event.type)) {
    await applyGroupEvent({ type: event.type, data: event.data } as IpcGroupEvent, at, trx);
    return;
  }
  const status = STATUS_AFTER[event.type];
  if (status === undefined) return;
  const e = { type: event.type, data: event.data } as ContainerEvent;
  const id = e.data.containerId;
  if (e.type === "ContainerCreated") {
    await trx
      .insertInto("mount_manager_containers")
      .values({ container_id: id, name: e.data.name, status: "created", updated_at: at })
      .onConflict((oc) => oc.column("container_id").doNothing())
      .execute();
    return;
  }
  // While a removal is in progress, late facts of the start or exit do not change the status.
  const final = status === "removed" || status === "dead";
  await trx
    .updateTable("mount_manager_containers")
    .set({ status, updated_at: at })
    .where("container_id", "=", id)
    .$if(!final, (q) => q.where("status", "not in", ["removing", "removed", "dead"]))
    .execute();
  if (event.type === "ContainerStarted" || event.type === "ContainerUnpaused") {
    await trx.updateTable("ipc_groups").set({ owner_running: true, updated_at: at }).where("owner_id", "=", id).execute();
    await trx.updateTable("ipc_group_members").set({ running: true, updated_at: at }).where("member_id", "=", id).where("joined", "=", true).execute();
  } else if (ENDED.has(event.type)) {
    await trx.updateTable("ipc_groups").set({ owner_running: false, updated_at: at }).where("owner_id", "=", id).execute();
    await trx.updateTable("ipc_group_members").set({ running: false, updated_at: at }).where("member_id", "=", id).execute();
  }
}

async function applyGroupEvent(e: IpcGroupEvent, at: Date, trx: Transaction<MountManagerDatabase>): Promise<void> {
  switch (e.type) {
    case "IpcGroupFormed": {
      const d = e.data;
      await trx
        .insertInto("ipc_groups")
        .values({
          owner_id: d.ownerId,
          host: d.host,
          shm_size_bytes: d.shmSizeBytes,
          shm_mount_path: d.shmMountPath,
          status: "active",
          owner_running: false,
          updated_at: at,
        })
        .onConflict((oc) =>
          oc.column("owner_id").doUpdateSet((eb) => ({
            host: eb.ref("excluded.host"),
            shm_size_bytes: eb.ref("excluded.shm_size_bytes"),
            shm_mount_path: eb.ref("excluded.shm_mount_path"),
            status: "active",
            updated_at: eb.ref("excluded.updated_at"),
          })),
        )
        .execute();
      return;
    }
    case "ShmMountCreated": {
      const d = e.data;
      await trx
        .insertInto("shm_mounts")
        .values({ owner_id: d.ownerId, host: d.host, path: d.path, size_bytes: d.sizeBytes, state: "mounted", updated_at: at })
        .onConflict((oc) =>
          oc.column("owner_id").doUpdateSet((eb) => ({
            host: eb.ref("excluded.host"),
            path: eb.ref("excluded.path"),
            size_bytes: eb.ref("excluded.size_bytes"),
            state: "mounted",
            updated_at: eb.ref("excluded.updated_at"),
          })),
        )
        .execute();
      return;
    }
    case "ShmMountRemoved":
      await trx.updateTable("shm_mounts").set({ state: "unmounted", updated_at: at }).where("owner_id", "=", e.data.ownerId).execute();
      await trx.updateTable("ipc_groups").set({ status: "released", updated_at: at }).where("owner_id", "=", e.data.ownerId).execute();
      return;
    case "IpcGroupMemberJoined":
      await trx
        .insertInto("ipc_group_members")
        .values({ member_id: e.data.memberId, owner_id: e.data.ownerId, joined: true, running: false, updated_at: at })
        .onConflict((oc) =>
          oc.column("member_id").doUpdateSet((eb) => ({
            owner_id: eb.ref("excluded.owner_id"),
            joined: true,
            running: false,
            updated_at: eb.ref("excluded.updated_at"),
          })),
        )
        .execute();
      return;
    case "IpcGroupMemberLeft":
      await trx
        .updateTable("ipc_group_members")
        .set({ joined: false, running: false, updated_at: at })
        .where("member_id", "=", e.data.memberId)
        .where("owner_id", "=", e.data.ownerId)
        .execute();
      return;
  }
}

export async function resetProjection(trx: Transaction<MountManagerDatabase>): Promise<void> {
  await trx.deleteFrom("ipc_group_members").execute();
  await trx.deleteFrom("ipc_groups").execute();
  await trx.deleteFrom("shm_mounts").execute();
  await trx.deleteFrom("mount_manager_containers").execute();
}

export function createIpcGroupProjection(opts: { db: Kysely<MountManagerDatabase>; pool: pg.Pool; logger?: Logger }): ProjectionRunner {
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
