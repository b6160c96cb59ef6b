/**
 * Commands to one container's stream. Every command names its container by full id
 * (the api resolves names and id prefixes first) and carries the time it is decided
 * at; nothing here reads a clock. Times are ISO-8601 strings.
 */
import type { DomainCommand } from "../decider";
import type { HostConfigInput } from "../host-config";
import type { IpcPlan } from "../ipc-mode";
import type { IpcJoinTarget } from "../ipc-join";
import type { CheckpointFacts, RestoreFrom } from "../checkpoint/checkpoint";

/**
 * Where the root filesystem comes from: a host directory (never written) or an image in
 * containerd's store. Added fields of an image: `id`, the image (its config digest) the
 * container was created from; `digest`, what its reference resolved to then (a host that
 * lacks the image pulls `ref@digest`).
 */
export type ContainerSource = { kind: "rootfs"; path: string } | { kind: "image"; ref: string; id?: string; digest?: string };

/**
 * The merged config (image-config.ts) beyond args, env and cwd, as inspect's Config shows
 * it: `args` is entrypoint then cmd; `user` (`-u` or the image's) and `stopSignal` absent
 * for the defaults (root, SIGTERM).
 */
export type ContainerRunFacts = { entrypoint: string[]; cmd: string[]; user?: string; stopSignal?: string };

/** The runtime a container was started with; every later operation on it uses this one. */
export type LockedInRuntime = { name: string; path: string; args: string[] };

/**
 * Create a container. `hostConfig` is raw input, validated by decide (parseHostConfig).
 * Name uniqueness across containers is the api's job (it reserves names), not this stream's.
 */
export type CreateContainer = DomainCommand<
  "CreateContainer",
  {
    containerId: string;
    name: string;
    hostConfig: HostConfigInput | undefined;
    source: ContainerSource;
    /** The command and its arguments; may be empty only for an image (its default command). */
    args: string[];
    /** `KEY=VALUE` entries. */
    env: string[];
    createdAt: string;
  }
>;

/**
 * Start (or restart) a container. `experimental` is the daemon config's flag at the time;
 * `configVersion` is the version of that config snapshot, which every later step of this
 * start uses (read-copy-update); `fromCheckpoint` names a checkpoint to restore ("" is the
 * same as absent). For a
 * `container:<ref>` member, `ipcOwner` is the container the ref resolves to now (absent:
 * none does), as the caller read it; the join rule (ipc-join.ts) is checked against it and
 * the start request records its id, so no later step resolves the ref again.
 */
export type StartContainer = DomainCommand<
  "StartContainer",
  {
    containerId: string;
    now: string;
    fromCheckpoint?: string;
    experimental: boolean;
    configVersion?: number;
    ipcOwner?: IpcJoinTarget;
    /**
     * A restart by the restart policy (the api's restarter), not a user's start: it starts
     * only a `restarting` container not stopped by a user since, and is a no-op otherwise.
     * A user's start resets the restart count, as `docker start` does.
     */
    automatic?: boolean;
    /** Hosts the start must not be placed on: a drain moving the container off its host. */
    avoidHosts?: string[];
    /** The checkpoint `fromCheckpoint` names, as the api found it (absent: the container has none by that name). */
    checkpoint?: RestoreFrom;
    /** The host the start must be placed on (`start --host`). */
    host?: string;
  }
>;

/** Checkpoint the container (alone, or as `groupOwnerId`'s group); the api ran the preflight. */
export type CheckpointContainer = DomainCommand<
  "CheckpointContainer",
  { containerId: string; now: string; checkpoint: string; leaveRunning: boolean; groupOwnerId?: string }
>;
/** The host made the checkpoint. */
export type RecordCheckpointed = DomainCommand<"RecordCheckpointed", { containerId: string; now: string; checkpoint: CheckpointFacts }>;
/** The host could not make it. */
export type RecordCheckpointFailed = DomainCommand<"RecordCheckpointFailed", { containerId: string; now: string; checkpoint: string; reason: string }>;

/** The scheduler placed the container on `host`. */
export type RecordScheduled = DomainCommand<
  "RecordScheduled",
  { containerId: string; now: string; host: string; ipcOwnerId?: string; reservedBytes?: number; reservedNanoCpus?: number }
>;

/** The mount-manager planned (and ordered) the container's IPC setup. */
export type RecordIpcPrepared = DomainCommand<"RecordIpcPrepared", { containerId: string; now: string; plan: IpcPlan }>;

/** The host agent reports the container's init process running. */
export type RecordStarted = DomainCommand<
  "RecordStarted",
  {
    containerId: string;
    now: string;
    pid: number;
    /** Inode of the container's IPC namespace (`/proc/<pid>/ns/ipc`), when the agent read it. */
    ipcNamespaceInode?: number;
    runtime: LockedInRuntime;
    /**
     * The daemon config version in force when recorded: ContainerStarted takes the start
     * request's version instead, and this one only for a start requested without one.
     */
    configVersion: number;
  }
>;

/** The start failed; see startFailureExitCode for the exit code. */
export type RecordStartFailed = DomainCommand<
  "RecordStartFailed",
  { containerId: string; now: string; reason: string; exitCode: number }
>;

/**
 * The container's init process exited. `host`, when given, is the host that reports it:
 * an exit from any host but the one the container is placed on is refused (a fenced,
 * superseded copy on a returning host), FailedPreconditionError.
 */
export type RecordExited = DomainCommand<
  "RecordExited",
  { containerId: string; exitCode: number; exitedAt: string; oomKilled?: boolean; host?: string }
>;

/**
 * Stop: SIGTERM, then SIGKILL after `timeoutSeconds` (a whole number; -1 waits forever,
 * as Docker's API allows).
 */
export type StopContainer = DomainCommand<"StopContainer", { containerId: string; now: string; timeoutSeconds: number }>;

/** Send a signal: a number or a name (`KILL`, `SIGTERM`, `RTMIN+3`); "" means SIGKILL. */
export type KillContainer = DomainCommand<"KillContainer", { containerId: string; now: string; signal: string | number }>;

export type PauseContainer = DomainCommand<"PauseContainer", { containerId: string; now: string }>;
export type UnpauseContainer = DomainCommand<"UnpauseContainer", { containerId: string; now: string }>;

/** Rename; `newName` as the user gave it (one leading `/` allowed). Uniqueness is the api's. */
export type RenameContainer = DomainCommand<"RenameContainer", { containerId: string; now: string; newName: string }>;

/** Remove; `force` stops a running or paused container first. */
export type RemoveContainer = DomainCommand<"RemoveContainer", { containerId: string; now: string; force: boolean }>;

/** The agent and mount-manager have released everything the container held. */
export type RecordRemoved = DomainCommand<"RecordRemoved", { containerId: string; now: string }>;

/**
 * The scheduler lost `host` (heartbeat timeout) while the container was placed there. A
 * no-op when the container holds no placement on `host` any more.
 */
export type RecordLost = DomainCommand<"RecordLost", { containerId: string; now: string; host: string; reason: string }>;

/** `host` returned with the lost container still running as `pid`; a no-op unless it is lost on `host`. */
export type RecordRecovered = DomainCommand<"RecordRecovered", { containerId: string; now: string; host: string; pid: number }>;

/** The container cannot be brought back (e.g. a removal failed half-way); only removal is allowed after. */
export type RecordDead = DomainCommand<"RecordDead", { containerId: string; now: string; reason: string }>;

export type ContainerCommand =
  | CreateContainer
  | StartContainer
  | RecordScheduled
  | RecordIpcPrepared
  | RecordStarted
  | RecordStartFailed
  | RecordExited
  | StopContainer
  | KillContainer
  | PauseContainer
  | UnpauseContainer
  | RenameContainer
  | RemoveContainer
  | RecordRemoved
  | RecordLost
  | RecordRecovered
  | RecordDead
  | CheckpointContainer
  | RecordCheckpointed
  | RecordCheckpointFailed;
