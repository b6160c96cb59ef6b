import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { publishHostReport } from "@shoal/bus";
import type { WrapperStore } from "@shoal/config";
import type { Container, ContainerdClient, Task } from "@shoal/containerd";
import type { HostOs } from "@shoal/host-os";
import type { Logger } from "pino";
import type { ContainerStore } from "./container-store";
import type { HostCapabilities } from "./host-capabilities";
import type { KeyedMutex } from "./keyed-mutex";

/** containerd label on every container this agent makes, valued with its host name. */
export const HOST_LABEL = "shoal.host";

/** A container whose task the agent watches: started here, or adopted by a reconcile. */
export interface LiveContainer {
  /** Absent for a container adopted without one loaded; the exit cleanup loads it then. */
  container?: Container;
  task: Task;
  /** Set as soon as the init process's exit is known, before the cleanup that follows it. */
  exited: boolean;
  /** Frozen by PauseContainer (or found paused at recovery). */
  paused: boolean;
  /**
   * Settles once this start's ContainerStarted report is published (or failed, logged). The
   * exit report waits for it, so a container's Started report is stored before its Exited.
   * Already settled for an adopted container.
   */
  startedReport: Promise<void>;
  /**
   * Settles once a ContainerOom report of this incarnation is published (set by reportOom).
   * The exit report, published after the task is deleted, waits for it: Docker shows
   * OOMKilled with the exit, so the OOM is recorded first.
   */
  oomReport?: Promise<void>;
  /** Settles once the exit has been recorded, reported and the task and container deleted. Never rejects. */
  exitDone: Promise<void>;
}

/**
 * What the parts of the agent share: made once by `startAgent` when containerd answers,
 * and passed to each part (commands, start, shm mounts, exits, operations, reconcile). It
 * holds state and clients only; what is done with them lives in the parts.
 *
 * `locks` is keyed by container id for a start, stop, pause, delete and a reconcile's action
 * on a container, and by `shm:<id>` for an owner's shm tmpfs. The maps and sets below are
 * plain event-loop state; each field says which part writes it.
 */
export interface AgentContext {
  /** This host's name (one subject token). */
  readonly host: string;
  readonly subjectPrefix: string;
  readonly stateRoot: string;
  /** Short run directory: exec output files live in `<runDir>/exec`. */
  readonly runDir: string;
  /** `<runDir>/runc`: the runc root every shim of this host is given (Options.root). */
  readonly runcRoot: string;
  /** `shoal-<host>`: the cgroup parent of this host's containers. */
  readonly cgroupPrefix: string;
  /** The binary:// logger every task and exec process writes its output through. */
  readonly logBinary: string;
  /** What the host offered at start-up (runtimes and their rro, AppArmor). */
  readonly capabilities: HostCapabilities;
  readonly log: Logger;
  readonly os: HostOs;
  readonly store: ContainerStore;
  readonly wrappers: WrapperStore;
  readonly containerd: ContainerdClient;
  /** Ids of the images this host holds (kept by images/: at start, after a pull, load, tag or rmi); heartbeats carry them. */
  readonly imageIds: Set<string>;
  /** Core NATS, for best-effort messages (a pull's progress lines). */
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly locks: KeyedMutex;
  /** Containers whose task is watched, by id: added by exits' `watchExit` (a start, an adoption), removed once the exit is finished. */
  readonly live: Map<string, LiveContainer>;
  /** Starts in progress (kept by the start): a `Reconcile` keeps their shm even before their record is written. */
  readonly starting: Set<string>;
  /**
   * The last failed start attempt per container: the same attempt sent again (a dispatcher
   * redelivery, or two dispatchers) gets the same answer, and is never tried a second time.
   * DeleteContainer forgets it.
   */
  readonly failedStarts: Map<string, { attemptId: string; error: Error }>;
  /** Exits recorded but not yet acknowledged by JetStream (kept by exits); retried on every heartbeat. */
  readonly unreported: Set<string>;
  /** Set once by the agent's stop: exits seen from then on are left to the next start's reconcile. */
  stopping: boolean;
}

/**
 * Publishes one host report with its deterministic id (JetStream drops a re-publish within
 * its duplicate window). Rejects when JetStream does not acknowledge; the caller decides
 * whether that is logged, retried or fatal.
 */
export async function publishReport(ctx: AgentContext, type: string, reportId: string, payload: unknown): Promise<void> {
  await publishHostReport(ctx.js, { prefix: ctx.subjectPrefix, host: ctx.host, type, reportId, payload });
}

/** True while the agent watches a live process of `containerId` here (started or adopted, its exit not seen yet). */
export function runsHere(ctx: Pick<AgentContext, "live">, containerId: string): boolean {
  const live = ctx.live.get(containerId);
  return live !== undefined && !live.exited;
}
