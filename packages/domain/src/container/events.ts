/**
 * Events of one container's stream (`container-<id>`). Wire contracts: add fields and
 * new schema versions, never change a field's meaning. Every `data` is plain JSON.
 */
import type { DomainEvent } from "../decider";
import type { HostConfig } from "../host-config";
import type { IpcPlan } from "../ipc-mode";
import type { ContainerRunFacts, ContainerSource, LockedInRuntime } from "./commands";
import type { CheckpointFacts, RestoreFrom } from "../checkpoint/checkpoint";

export type ContainerCreated = DomainEvent<
  "ContainerCreated",
  {
    containerId: string;
    /** Stored without a leading `/`. */
    name: string;
    hostConfig: HostConfig;
    source: ContainerSource;
    args: string[];
    env: string[];
    createdAt: string;
    /** Added by the api beside the decided fields: the working directory (`-w` or the image's). */
    cwd?: string;
    /** Added by the api beside the decided fields: the merged config's rest. */
    run?: ContainerRunFacts;
  }
>;
/**
 * A start was accepted; the scheduler places the container next. Added fields (a request
 * recorded before them has none): `ipcOwnerId`, for a `container:<ref>` member, the owner
 * the ref resolved to when the join was checked; `configVersion`, the daemon config
 * snapshot every step of this start uses (the scheduler's, the mount-manager's and the
 * dispatcher's), recorded again on ContainerStarted.
 */
export type ContainerStartRequested = DomainEvent<
  "ContainerStartRequested",
  {
    containerId: string;
    requestedAt: string;
    fromCheckpoint?: string;
    ipcOwnerId?: string;
    configVersion?: number;
    /** Added field: true for a restart by the restart policy (it counts as one); absent for a user's start (it resets the count). */
    automatic?: true;
    /** Added field: hosts this start must not be placed on (a move off a draining host). */
    avoidHosts?: string[];
    /** Added field: the checkpoint this start restores (`fromCheckpoint`, as found). */
    restore?: RestoreFrom;
    /** Added field: the host this start must be placed on (`start --host`), over the create's pin. */
    host?: string;
  }
>;
export type ContainerScheduled = DomainEvent<
  "ContainerScheduled",
  {
    containerId: string;
    host: string;
    scheduledAt: string;
    /** For a `container:<ref>` member: the owner the scheduler placed it with (a hint for the IPC planning). */
    ipcOwnerId?: string;
    /**
     * The bytes the placement reserves on `host` until the container exits, fails, dies or is
     * removed: its memory plus the shm tmpfs it brings (a group's shm counts on its owner).
     * Added field: a placement recorded before it has none.
     */
    reservedBytes?: number;
    /** The CPUs (nano-CPUs, `--cpus`) the placement reserves on `host`, as `reservedBytes`. Added field. */
    reservedNanoCpus?: number;
  }
>;
export type ContainerIpcPrepared = DomainEvent<"ContainerIpcPrepared", { containerId: string; plan: IpcPlan; preparedAt: string }>;
export type ContainerStarted = DomainEvent<
  "ContainerStarted",
  {
    containerId: string;
    pid: number;
    ipcNamespaceInode?: number;
    runtime: LockedInRuntime;
    configVersion: number;
    startedAt: string;
  }
>;
export type ContainerStartFailed = DomainEvent<
  "ContainerStartFailed",
  { containerId: string; reason: string; exitCode: number; failedAt: string }
>;
export type ContainerExited = DomainEvent<
  "ContainerExited",
  { containerId: string; exitCode: number; exitedAt: string; oomKilled: boolean }
>;
/**
 * The container exited and its restart policy starts it again at `dueAt` (`delayMs` after
 * the exit: Docker's backoff). `restartCount` is the count that restart makes. Decided in
 * the same append as the ContainerExited it follows; the api's restarter starts it when due.
 */
export type ContainerRestartPlanned = DomainEvent<
  "ContainerRestartPlanned",
  { containerId: string; restartCount: number; delayMs: number; dueAt: string; plannedAt: string }
>;
/**
 * The container's host was lost (the scheduler's heartbeat timeout): it may still run
 * there, cut off. Its restart policy may plan a restart elsewhere in the same append.
 */
export type ContainerLost = DomainEvent<"ContainerLost", { containerId: string; host: string; reason: string; lostAt: string }>;
/** Its lost host came back with it still running, and it was still placed there: adopted again. */
export type ContainerRecovered = DomainEvent<"ContainerRecovered", { containerId: string; host: string; pid: number; recoveredAt: string }>;
/** Stop was asked for; the host sends SIGTERM, then SIGKILL after the timeout. ContainerExited follows. */
export type ContainerStopRequested = DomainEvent<
  "ContainerStopRequested",
  { containerId: string; timeoutSeconds: number; requestedAt: string }
>;
/** `signal` is a Linux signal number. */
export type ContainerKillRequested = DomainEvent<"ContainerKillRequested", { containerId: string; signal: number; requestedAt: string }>;
/** Decided, to be carried out by the host (freezer cgroup). */
export type ContainerPaused = DomainEvent<"ContainerPaused", { containerId: string; pausedAt: string }>;
export type ContainerUnpaused = DomainEvent<"ContainerUnpaused", { containerId: string; unpausedAt: string }>;
/**
 * Removal accepted. `stopFirst`: the container may still have a live process that must
 * be killed before its resources are released. ContainerRemoved or ContainerDied follows.
 */
export type ContainerRemovalRequested = DomainEvent<
  "ContainerRemovalRequested",
  { containerId: string; stopFirst: boolean; requestedAt: string }
>;
/** Names are stored without a leading `/`. */
export type ContainerRenamed = DomainEvent<"ContainerRenamed", { containerId: string; oldName: string; newName: string; renamedAt: string }>;
export type ContainerRemoved = DomainEvent<"ContainerRemoved", { containerId: string; removedAt: string }>;
export type ContainerDied = DomainEvent<"ContainerDied", { containerId: string; reason: string; diedAt: string }>;
/**
 * A checkpoint of the container was asked for (as the group's owner or one of its members:
 * `groupOwnerId`). Without `leaveRunning` its exit after the dump is a stop by the user: no
 * restart policy starts it again.
 */
export type ContainerCheckpointRequested = DomainEvent<
  "ContainerCheckpointRequested",
  { containerId: string; checkpoint: string; leaveRunning: boolean; groupOwnerId?: string; requestedAt: string }
>;
/** The checkpoint was made and stored on its host (the same facts as its CheckpointCreated). */
export type ContainerCheckpointed = DomainEvent<"ContainerCheckpointed", { containerId: string; checkpoint: CheckpointFacts; checkpointedAt: string }>;
/** The dump failed; the container runs on as before. */
export type ContainerCheckpointFailed = DomainEvent<
  "ContainerCheckpointFailed",
  { containerId: string; checkpoint: string; reason: string; failedAt: string }
>;

export type ContainerEvent =
  | ContainerCreated
  | ContainerStartRequested
  | ContainerScheduled
  | ContainerIpcPrepared
  | ContainerStarted
  | ContainerStartFailed
  | ContainerExited
  | ContainerRestartPlanned
  | ContainerLost
  | ContainerRecovered
  | ContainerStopRequested
  | ContainerKillRequested
  | ContainerPaused
  | ContainerUnpaused
  | ContainerRenamed
  | ContainerRemovalRequested
  | ContainerRemoved
  | ContainerDied
  | ContainerCheckpointRequested
  | ContainerCheckpointed
  | ContainerCheckpointFailed;

export type ContainerEventType = ContainerEvent["type"];

/** The schema version each event type is written with today. Bump one (and upcast on read) to change its data. */
export const CONTAINER_EVENT_SCHEMA_VERSIONS: Readonly<Record<ContainerEventType, number>> = {
  ContainerCreated: 1,
  ContainerStartRequested: 1,
  ContainerScheduled: 1,
  ContainerIpcPrepared: 1,
  ContainerStarted: 1,
  ContainerStartFailed: 1,
  ContainerExited: 1,
  ContainerRestartPlanned: 1,
  ContainerLost: 1,
  ContainerRecovered: 1,
  ContainerStopRequested: 1,
  ContainerKillRequested: 1,
  ContainerPaused: 1,
  ContainerUnpaused: 1,
  ContainerRenamed: 1,
  ContainerRemovalRequested: 1,
  ContainerRemoved: 1,
  ContainerDied: 1,
  ContainerCheckpointRequested: 1,
  ContainerCheckpointed: 1,
  ContainerCheckpointFailed: 1,
};

/** Every container event type, for subscriptions and projections. */
export const CONTAINER_EVENT_TYPES = Object.keys(CONTAINER_EVENT_SCHEMA_VERSIONS) as ContainerEventType[];

/** True when `type` names a container event. */
export function isContainerEventType(type: string): type is ContainerEventType {
  return Object.hasOwn(CONTAINER_EVENT_SCHEMA_VERSIONS, type);
}

/**
 * Container events after which the container holds no placement (no reservation) on its
 * host: its process or start ended, it was removed or died, or its restart policy plans a
 * new placement (after an exit, or after its host was lost: the lost host no longer holds
 * it, and fencing kills its copy there if the host returns).
 */
export const PLACEMENT_RELEASING_EVENT_TYPES: ReadonlySet<ContainerEventType> = new Set<ContainerEventType>([
  "ContainerExited",
  "ContainerStartFailed",
  "ContainerRemoved",
  "ContainerDied",
  "ContainerRestartPlanned",
]);
