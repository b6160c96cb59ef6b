/**
 * What the mount-manager reads from the log before it decides: a container's state, an
 * IPC group's state, the daemon config in force, a host's registered state root, and a
 * `container:<ref>` resolved to an id. Every read is fresh (no cache), so a decision sees everything committed before it.
 */
import {
  DAEMON_CONFIG_STREAM_ID,
  containerDecider,
  containerStreamId,
  hostStreamId,
  ipcGroupStreamId,
} from "@shoal/domain";
import type { ContainerState, HostRegistered } from "@shoal/domain";
import type { RecordedEvent } from "@shoal/event-store";
import { configDecider, configStateAt } from "@shoal/config";
import { foldStream, loadStream } from "@shoal/event-store";
import type { EventStore } from "@shoal/event-store";
import { ipcGroupDecider } from "./ipc-group-decider";
import type { IpcGroupState } from "./ipc-group-decider";
import type { IpcPlanConfig } from "./ipc-planner";

export interface ContainerView {
  recorded: RecordedEvent[];
  state: ContainerState;
  /** The stream's version (0: no stream). */
  version: number;
}

function containerViewOf(events: RecordedEvent[]): ContainerView {
  const { recorded, state, version } = foldStream(containerDecider, events);
  return { recorded, state, version };
}

export async function readContainer(store: EventStore, containerId: string): Promise<ContainerView> {
  const { recorded, state, version } = await loadStream(store, containerStreamId(containerId), containerDecider);
  return { recorded, state, version };
}

export interface GroupView {
  state: IpcGroupState;
  /** The stream's version (0: no group yet). */
  version: number;
}

function groupViewOf(events: RecordedEvent[]): GroupView {
  const { state, version } = foldStream(ipcGroupDecider, events);
  return { state, version };
}

export async function readGroup(store: EventStore, ownerId: string): Promise<GroupView> {
  const { state, version } = await loadStream(store, ipcGroupStreamId(ownerId), ipcGroupDecider);
  return { state, version };
}

/** The daemon config in force (version 0 = built-in defaults), reduced to what IPC planning needs. */
export type IpcConfigView = IpcPlanConfig & { version: number };

/** What preparing a container's IPC reads before it decides. */
export interface PreparationInputs {
  current: ContainerView;
  config: IpcConfigView;
  /** The group the container would own. */
  ownGroup: GroupView;
  /**
   * The state root `host`'s agent reported in its latest HostRegistered
   * (`data.capabilities.stateRoot`); undefined when it never registered or did not say.
   */
  hostStateRoot: string | undefined;
  /**
   * A member's owner (ContainerScheduled's `ipcOwnerId`: the owner its start request
   * resolved) and its group, read in the same query.
   */
  owner?: { containerId: string; view: ContainerView; group: GroupView };
}

/**
 * The container's stream, the daemon config, the group it would own and its host's stream
 * (and, for a member, its owner's stream and group), in ONE query: the start path pays one
 * round trip for all of them, and records the preparation against what it read.
 */
export async function readPreparationInputs(
  store: EventStore,
  containerId: string,
  host: string,
  ownerId?: string,
): Promise<PreparationInputs> {
  const ids = [containerStreamId(containerId), DAEMON_CONFIG_STREAM_ID, ipcGroupStreamId(containerId), hostStreamId(host)];
  if (ownerId !== undefined) ids.push(containerStreamId(ownerId), ipcGroupStreamId(ownerId));
  const read = await store.readStreams(ids.map((streamId) => ({ streamId })));
  const events = (id: string) => read.get(id) ?? [];
  const current = containerViewOf(events(containerStreamId(containerId)));
  // The config snapshot the start was requested under (read-copy-update), else the latest.
  const start = current.state;
  const requestedVersion = start.status === "starting" || start.status === "scheduled" ? start.configVersion : undefined;
  const configEvents = events(DAEMON_CONFIG_STREAM_ID);
  const configState =
    (requestedVersion === undefined ? undefined : configStateAt(configEvents, requestedVersion)) ?? foldStream(configDecider, configEvents).state;
  return {
    current,
    config: {
      version: configState.version,
      defaultIpcMode: configState.config.defaultIpcMode,
      defaultShmSizeBytes: configState.config.defaultShmSizeBytes,
      stateRoot: configState.config.stateRoot,
    },
    ownGroup: groupViewOf(events(ipcGroupStreamId(containerId))),
    hostStateRoot: stateRootOf(events(hostStreamId(host))),
    ...(ownerId !== undefined ? { owner: ownerOf(read, ownerId) } : {}),
  };
}

function ownerOf(read: Map<string, RecordedEvent[]>, ownerId: string): NonNullable<PreparationInputs["owner"]> {
  return {
    containerId: ownerId,
    view: containerViewOf(read.get(containerStreamId(ownerId)) ?? []),
    group: groupViewOf(read.get(ipcGroupStreamId(ownerId)) ?? []),
  };
}

/** The state root a host's agent reported in its latest HostRegistered (`data.capabilities.stateRoot`). */
function stateRootOf(hostEvents: RecordedEvent[]): string | undefined {
  // Typed, but a registration recorded before the type was fixed may lack the field.
  const registered = hostEvents.findLast((e) => e.type === "HostRegistered")?.data as Partial<HostRegistered["data"]> | undefined;
  const root: unknown = registered?.capabilities?.stateRoot;
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


/** True when the host's registration in force has been lost (its stream ends in HostLost). */
export async function hostIsLost(store: EventStore, host: string): Promise<boolean> {
  const events = await store.readStream(hostStreamId(host));
  return events.at(-1)?.type === "HostLost";
}
