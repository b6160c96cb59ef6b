/**
 * A container's state, folded from its events. A union on `status`.
 *
 *   absent ─create─► created ─start─► starting ─scheduled─► scheduled ─ipc prepared─► ipc-prepared
 *   ipc-prepared ─started─► running ⇄ paused;  running|paused ─exited─► exited
 *   starting|scheduled|ipc-prepared ─start failed─► start-failed
 *   any live status ─remove─► removing ─removed─► removed;  removing (or any) ─died─► dead
 *   running|paused ─exited, the restart policy restarts it─► restarting ─automatic start─► starting
 *   restarting ─stop─► exited
 *   scheduled|ipc-prepared|running|paused ─host lost─► lost ─host returned, still running─► running
 *   lost ─restart policy─► restarting;  lost ─exit found─► exited
 *
 * Every state but `absent` may carry `restarts`, the restart policy's tally, folded
 * beside the status (see evolve).
 */
import type { HostConfig } from "../host-config";
import type { IpcPlan } from "../ipc-mode";
import type { ContainerSource, LockedInRuntime } from "./commands";
import type { RestoreFrom } from "../checkpoint/checkpoint";

/** What was fixed at create time. */
export type ContainerDefinition = {
  id: string;
  name: string;
  hostConfig: HostConfig;
  source: ContainerSource;
  args: string[];
  env: string[];
  createdAt: string;
};

/** The init process of a running or paused container. */
export type ContainerProcess = {
  pid: number;
  ipcNamespaceInode?: number;
  runtime: LockedInRuntime;
  configVersion: number;
  startedAt: string;
};

export type LastExit = { exitCode: number; exitedAt: string; oomKilled: boolean };
export type StartFailure = { reason: string; exitCode: number; failedAt: string };

/** A start in progress: when it was requested, and the config snapshot version it uses. */
type Start = { startRequestedAt: string; fromCheckpoint?: string; restore?: RestoreFrom; configVersion?: number };

/**
 * What the restart policy counts, from the last start by a user: the automatic restarts
 * made (Docker's RestartCount), whether a user stopped or killed the container since
 * (then no policy restarts it), and the wait before the last automatic restart (the
 * backoff doubles it). Absent: all zero.
 */
export type RestartTally = {
  count: number;
  manuallyStopped: boolean;
  lastDelayMs: number;
  /**
   * `manuallyStopped` was set by a checkpoint that stops the container, still unanswered: a
   * failed dump leaves the container running, so its failure takes the stop back.
   */
  checkpointStop?: true;
};

export const NO_RESTARTS: RestartTally = { count: 0, manuallyStopped: false, lastDelayMs: 0 };

export type ContainerState = { status: "absent" } | (ExistingState & { restarts?: RestartTally });

type ExistingState =
  | { status: "created"; container: ContainerDefinition }
  | ({ status: "starting"; container: ContainerDefinition } & Start)
  | ({ status: "scheduled"; container: ContainerDefinition; host: string } & Start)
  | ({ status: "ipc-prepared"; container: ContainerDefinition; host: string; ipcPlan: IpcPlan } & Start)
  | { status: "running"; container: ContainerDefinition; host: string; ipcPlan: IpcPlan; process: ContainerProcess }
  | {
      status: "paused";
      container: ContainerDefinition;
      host: string;
      ipcPlan: IpcPlan;
      process: ContainerProcess;
      pausedAt: string;
    }
  | { status: "exited"; container: ContainerDefinition; lastExit: LastExit }
  /**
   * Exited (or lost), and the restart policy starts it again at `restartDueAt` (Docker shows
   * it running and restarting). After a loss, `lastExit` is the failure the policy counted
   * (137 at the time of the loss): no exit was seen.
   */
  | { status: "restarting"; container: ContainerDefinition; lastExit: LastExit; restartDueAt: string }
  /**
   * Its host was lost (silent past the heartbeat timeout): it may still run there, cut off.
   * Lost is not dead: the placement still names `host`, so a returning host keeps (adopts)
   * it, unless the log has placed it elsewhere since, when the host kills it first.
   */
  | {
      status: "lost";
      container: ContainerDefinition;
      host: string;
      ipcPlan?: IpcPlan;
      process?: ContainerProcess;
      lostAt: string;
      reason: string;
    }
  | { status: "start-failed"; container: ContainerDefinition; failure: StartFailure }
  | {
      status: "removing";
      container: ContainerDefinition;
      /** A process may still be alive: kill it before releasing its resources. */
      stopFirst: boolean;
      requestedAt: string;
      /** What the container still holds and the removal must release, when known. */
      host?: string;
      ipcPlan?: IpcPlan;
      process?: ContainerProcess;
    }
  | { status: "removed"; container: ContainerDefinition; removedAt: string }
  | { status: "dead"; container: ContainerDefinition; reason: string; diedAt: string };

export type ContainerStatus = ContainerState["status"];

/** A container before any event: the stream does not exist. */
export function initialState(): ContainerState {
  return { status: "absent" };
}

/**
 * True when the container has a live, unpaused process. StartContainer on such a
 * container decides no events: the api answers "already running" as a normal reply.
 */
export function isRunning(state: ContainerState): boolean {
  return state.status === "running";
}

/**
 * True between an accepted start and its outcome (starting, scheduled, ipc-prepared).
 * StartContainer then decides no events: the caller waits for the pending outcome.
 */
export function isStartInProgress(state: ContainerState): boolean {
  return state.status === "starting" || state.status === "scheduled" || state.status === "ipc-prepared";
}
