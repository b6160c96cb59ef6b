/**
 * What the mount-manager reads from the log before it decides: a container's state, an
 * IPC group's state, the daemon config in force, a host's registered state root, and a
 * `container:<ref>` resolved to an id. Every read is fresh (no cache), so a decision sees everything committed before it.
 */
import { sql } from "kysely";
import type { Kysely } from "kysely";
import {
  DAEMON_CONFIG_STREAM_ID,
  containerDecider,
  containerStreamId,
  hostStreamId,
  ipcGroupStreamId,
  isContainerId,
} from "@shoal/domain";
import type { ContainerState } from "@shoal/domain";
import type { RecordedEvent } from "@shoal/event-store";
import { configDecider } from "@shoal/config";
import { loadStream } from "@shoal/event-store";
import type { EventStore } from "@shoal/event-store";
import { ipcGroupDecider } from "./ipc-group-decider";
import type { IpcGroupState } from "./ipc-group-decider";
import type { IpcPlanConfig } from "./ipc-planner";

export interface ContainerView {
  recorded: RecordedEvent[];
  state: ContainerState;
}

export async function readContainer(store: EventStore, containerId: string): Promise<ContainerView> {
  const { recorded, state } = await loadStream(store, containerStreamId(containerId), containerDecider);
  return { recorded, state };
}

export interface GroupView {
  state: IpcGroupState;
  /** The stream's version (0: no group yet). */
  version: number;
}

export async function readGroup(store: EventStore, ownerId: string): Promise<GroupView> {
  const { state, version } = await loadStream(store, ipcGroupStreamId(ownerId), ipcGroupDecider);
  return { state, version };
}

/** The daemon config in force now (version 0 = built-in defaults), reduced to what IPC planning needs. */
export async function readIpcConfig(store: EventStore): Promise<IpcPlanConfig & { version: number }> {
  const { state } = await loadStream(store, DAEMON_CONFIG_STREAM_ID, configDecider);
  return {
    version: state.version,
    defaultIpcMode: state.config.defaultIpcMode,
    defaultShmSizeBytes: state.config.defaultShmSizeBytes,
    stateRoot: state.config.stateRoot,
  };
}

/**
 * The state root `host`'s agent reported in its latest HostRegistered (stream `host-<name>`,
 * `data.capabilities.stateRoot`); undefined when the host never registered or its agent
 * does not report one. One indexed query, not a fold of the host's whole stream.
 */
export async function readHostStateRoot(db: Kysely<any>, host: string): Promise<string | undefined> {
  const r = await sql<{ state_root: unknown }>`
    SELECT data->'capabilities'->'stateRoot' AS state_root FROM events
    WHERE stream_id = ${hostStreamId(host)} AND type = 'HostRegistered'
    ORDER BY stream_version DESC LIMIT 1`.execute(db);
  const root = r.rows[0]?.state_root;
  return typeof root === "string" && root.startsWith("/") ? root : undefined;
}

/**
 * True while the container has a process or a start in progress: its IPC namespace or
 * shm may be in use or about to be. A removal in progress counts while a process is known.
 */
export function isLive(state: ContainerState): boolean {
  switch (state.status) {
    case "starting":
    case "scheduled":
    case "ipc-prepared":
    case "running":
    case "paused":
      return true;
    case "removing":
      return state.process !== undefined;
    default:
      return false;
  }
}

/**
 * The id `ref` names, as Docker resolves it: a full id, else an exact name of a container
 * not removed, else a unique id prefix. Undefined when nothing (or more than one) matches.
 * Reads the mount-manager's container index (`mount_manager_containers`), and on a miss
 * the log itself: the projection can lag while another transaction holds the global
 * reader's horizon back, and a lagging index must not turn into "No such container".
 */
export async function resolveContainerRef(db: Kysely<any>, store: EventStore, ref: string): Promise<string | undefined> {
  if (isContainerId(ref)) return ref;
  const byName = await sql<{ container_id: string }>`
    SELECT container_id FROM mount_manager_containers WHERE name = ${ref} AND status <> 'removed'`.execute(db);
  if (byName.rows.length === 1) return byName.rows[0]!.container_id;
  if (/^[0-9a-f]+$/.test(ref)) {
    const byPrefix = await sql<{ container_id: string }>`
      SELECT container_id FROM mount_manager_containers
      WHERE container_id LIKE ${`${ref}%`} AND status <> 'removed' LIMIT 2`.execute(db);
    if (byPrefix.rows.length === 1) return byPrefix.rows[0]!.container_id;
  }
  // Not in the index (yet): the newest container created with that name that is not removed.
  const created = await sql<{ id: string }>`
    SELECT data->>'containerId' AS id FROM events
    WHERE type = 'ContainerCreated' AND data->>'name' = ${ref}
    ORDER BY global_position DESC LIMIT 5`.execute(db);
  for (const row of created.rows) {
    const { state } = await readContainer(store, row.id);
    if (state.status !== "absent" && state.status !== "removed") return row.id;
  }
  return undefined;
}
