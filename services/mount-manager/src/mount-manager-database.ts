/**
 * The mount-manager's tables as kysely sees them, beside the event store's (it appends and
 * records processed events). Migration 0300 is the truth for the columns; every table is kept
 * by the `mount-manager` projection (ipc-group-projection.ts) and read by no other service.
 */
import type { Generated } from "kysely";
import type { EventStoreDatabase, Int8Column, TimestampColumn } from "@shoal/event-store";

/** One row per owner that ever formed an IPC group. */
export interface IpcGroupsTable {
  owner_id: string;
  /** Where the group (and its shm mount) is. */
  host: string;
  shm_size_bytes: Int8Column;
  shm_mount_path: string;
  /** `active` while its shm is mounted, `released` once unmounted. */
  status: "active" | "released";
  /** The owner has a live process (ContainerStarted … Exited/StartFailed/Died/Removed). */
  owner_running: Generated<boolean>;
  /** Time of the last event applied. */
  updated_at: TimestampColumn;
}

/** One row per container that ever joined a group (its latest group). */
export interface IpcGroupMembersTable {
  member_id: string;
  owner_id: string;
  /** Holds the group's shm: from IpcGroupMemberJoined to IpcGroupMemberLeft. */
  joined: boolean;
  /** Its process is live, while joined. */
  running: Generated<boolean>;
  updated_at: TimestampColumn;
}

/** One row per owner's shm tmpfs. */
export interface ShmMountsTable {
  owner_id: string;
  host: string;
  path: string;
  size_bytes: Int8Column;
  state: "mounted" | "unmounted";
  updated_at: TimestampColumn;
}

/** The mount-manager's own container index: names and coarse statuses, for reconciling. */
export interface MountManagerContainersTable {
  container_id: string;
  name: string;
  /** The projection's status words (ipc-group-projection.ts `STATUS_AFTER`). */
  status: string;
  updated_at: TimestampColumn;
}

export interface MountManagerDatabase extends EventStoreDatabase {
  ipc_groups: IpcGroupsTable;
  ipc_group_members: IpcGroupMembersTable;
  shm_mounts: ShmMountsTable;
  mount_manager_containers: MountManagerContainersTable;
}
