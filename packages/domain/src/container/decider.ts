/**
 * The container aggregate: decide(command, state) → events, evolve(state, event) → state.
 * The rules follow Docker's engine; see packages/domain/README.md for the full table.
 *
 * Refusals (nothing is appended): NotFoundError (no such container), AlreadyExistsError
 * (create on an existing stream), InvalidArgumentError (malformed command),
 * FailedPreconditionError (not allowed in this status). A command for another
 * container than the stream's is a caller bug: InternalError.
 *
 * StartContainer from a checkpoint (experimental on): NotFoundError `checkpoint <name> does not
 * exist for container <c>` (Docker's) unless the command carries it as the api found it
 * (`checkpoint`), so it never starts the container fresh instead.
 *
 * No-ops (`[]`, a normal answer): start of a running container (isRunning) or of one
 * whose start is in progress (isStartInProgress); stop of a container with no process
 * (created, exited, start-failed, dead, removing), as Docker answers "not modified";
 * RecordDead on a dead container.
 *
 * --rm: RecordExited and RecordStartFailed on an autoRemove container decide the
 * ContainerRemovalRequested (stopFirst: false) in the same append.
 *
 * --restart: RecordExited of a container whose policy restarts it (decideRestart) decides
 * ContainerRestartPlanned in the same append: the container is `restarting` until the
 * api's restarter sends StartContainer{automatic} when it is due. Stop and kill by a user
 * count as a manual stop: no policy restarts the container until a user starts it again.
 * While `restarting` (Docker shows it running): start is a no-op, stop makes it exited,
 * kill and pause are refused ("is restarting, wait until the container is running"),
 * remove needs force.
 *
 * Lost hosts: RecordLost (the scheduler, on HostLost) makes a container placed on that host
 * `lost`, not dead; its restart policy may plan a restart (elsewhere) in the same append.
 * RecordRecovered adopts it back when its host returns with it still running; an exit
 * found meanwhile is recorded as any exit. A lost container cannot be stopped, killed,
 * paused or started by a user (its host does not answer); removal needs force.
 *
 * Late reports: while `removing`, the facts of an in-flight start or exit
 * (scheduled, IPC prepared, started, start failed, exited) are still recorded, so the
 * removal knows what to release; the status stays `removing`.
 */
import type { Decider } from "../decider";
import { AlreadyExistsError, FailedPreconditionError, InternalError, InvalidArgumentError, NotFoundError } from "../errors";
import { parseHostConfig } from "../host-config";
import { parseContainerId } from "../container-id";
import { normalizeContainerName } from "../container-name";
import { parseSignal } from "../signal";
import { ipcJoinRefusal } from "../ipc-join";
import { decideRestart, NO_RESTART } from "../restart-policy";
import { assertNever } from "../assert-never";
import { noSuchCheckpoint, parseCheckpointName } from "../checkpoint/checkpoint";
import type { IpcMode, IpcPlan } from "../ipc-mode";
import type { RestoreFrom } from "../checkpoint/checkpoint";
import type {
  ContainerCommand,
  ContainerSource,
  CreateContainer,
  LockedInRuntime,
  RecordExited,
  RecordIpcPrepared,
  RecordScheduled,
  RecordStarted,
  RecordStartFailed,
  RemoveContainer,
  StartContainer,
} from "./commands";
import type { ContainerEvent } from "./events";
import { initialState, NO_RESTARTS } from "./state";
import type { ContainerState, RestartTally } from "./state";

type Existing = Exclude<ContainerState, { status: "absent" }>;
type Live = Exclude<Existing, { status: "removed" }>;

export function decide(command: ContainerCommand, state: ContainerState): ContainerEvent[] {
  if (command.type === "CreateContainer") return create(command, state);
  if (command.type === "StartContainer") return start(command, state);
  const s = live(state, command.data.containerId);
  const id = s.container.id;
  const name = s.container.name;
  switch (command.type) {
    case "RecordScheduled":
      return recordScheduled(command, s);
    case "RecordIpcPrepared":
      return recordIpcPrepared(command, s);
    case "RecordStarted":
      return recordStarted(command, s);
    case "RecordStartFailed":
      return recordStartFailed(command, s);
    case "RecordExited":
      return recordExited(command, s);
    case "StopContainer": {
      const t = command.data.timeoutSeconds;
      if (!Number.isInteger(t) || t < -1) throw new InvalidArgumentError(`invalid stop timeout: ${t}`);
      requireTime("now", command.data.now);
      if (isStarting(s)) {
        throw new FailedPreconditionError(`container ${name} is starting: stop it once the start has finished`);
      }
      if (s.status === "lost") throw lostRefusal(s);
      if (s.status !== "running" && s.status !== "paused" && s.status !== "restarting") return [];
      return [{ type: "ContainerStopRequested", data: { containerId: id, timeoutSeconds: t, requestedAt: command.data.now } }];
    }
    case "KillContainer": {
      const signal = parseSignal(command.data.signal);
      requireTime("now", command.data.now);
      if (s.status === "restarting") throw restartingRefusal(id);
      if (s.status === "lost") throw lostRefusal(s);
      if (s.status !== "running" && s.status !== "paused") throw new FailedPreconditionError(`Container ${id} is not running`);
      return [{ type: "ContainerKillRequested", data: { containerId: id, signal, requestedAt: command.data.now } }];
    }
    case "PauseContainer":
      requireTime("now", command.data.now);
      if (s.status === "paused") throw new FailedPreconditionError(`Container ${id} is already paused`);
      if (s.status === "restarting") throw restartingRefusal(id);
      if (s.status === "lost") throw lostRefusal(s);
      if (s.status !== "running") throw new FailedPreconditionError(`Container ${id} is not running`);
      return [{ type: "ContainerPaused", data: { containerId: id, pausedAt: command.data.now } }];
    case "UnpauseContainer":
      requireTime("now", command.data.now);
      if (s.status !== "paused") throw new FailedPreconditionError(`Container ${id} is not paused`);
      return [{ type: "ContainerUnpaused", data: { containerId: id, unpausedAt: command.data.now } }];
    case "RenameContainer": {
      requireTime("now", command.data.now);
      // Docker shows the name it tried with its leading "/" in this message.
      const given = command.data.newName;
      const newName = normalizeContainerName(given.startsWith("/") ? given : `/${given}`);
      if (newName === name) throw new InvalidArgumentError("Renaming a container with the same name as its current name");
      if (s.status === "removing" || s.status === "dead") {
        throw new FailedPreconditionError(`cannot rename container ${name}: it is ${s.status === "dead" ? "dead" : "being removed"}`);
      }
      return [{ type: "ContainerRenamed", data: { containerId: id, oldName: name, newName, renamedAt: command.data.now } }];
    }
    case "RemoveContainer":
      return remove(command, s);
    case "RecordRemoved":
      requireTime("now", command.data.now);
      if (s.status !== "removing") {
        throw new FailedPreconditionError(`container ${name} is not being removed (status ${s.status})`);
      }
      return [{ type: "ContainerRemoved", data: { containerId: id, removedAt: command.data.now } }];
    case "RecordLost":
      return recordLost(command, s);
    case "RecordRecovered": {
      requireText("host", command.data.host);
      requirePositiveInteger("pid", command.data.pid);
      requireTime("now", command.data.now);
      if (s.status !== "lost" || s.host !== command.data.host) return [];
      return [{ type: "ContainerRecovered", data: { containerId: id, host: s.host, pid: command.data.pid, recoveredAt: command.data.now } }];
    }
    case "CheckpointContainer":
      requireTime("now", command.data.now);
      parseCheckpointName(command.data.checkpoint);
      if (s.status === "paused") throw new FailedPreconditionError(`container ${name} is paused, unpause the container before checkpointing it`);
      if (s.status !== "running") throw new FailedPreconditionError(`Container ${name} not running`);
      return [
        {
          type: "ContainerCheckpointRequested",
          data: {
            containerId: id,
            checkpoint: command.data.checkpoint,
            leaveRunning: command.data.leaveRunning,
            ...(command.data.groupOwnerId !== undefined ? { groupOwnerId: command.data.groupOwnerId } : {}),
            requestedAt: command.data.now,
          },
        },
      ];
    case "RecordCheckpointed":
      requireTime("now", command.data.now);
      return [{ type: "ContainerCheckpointed", data: { containerId: id, checkpoint: command.data.checkpoint, checkpointedAt: command.data.now } }];
    case "RecordCheckpointFailed":
      requireTime("now", command.data.now);
      requireText("reason", command.data.reason);
      return [
        { type: "ContainerCheckpointFailed", data: { containerId: id, checkpoint: command.data.checkpoint, reason: command.data.reason, failedAt: command.data.now } },
      ];
    case "RecordDead":
      requireText("reason", command.data.reason);
      requireTime("now", command.data.now);
      if (s.status === "dead") return [];
      return [{ type: "ContainerDied", data: { containerId: id, reason: command.data.reason, diedAt: command.data.now } }];
    default:
      return assertNever(command, "container command");
  }
}

/**
 * Folds one event: the status (evolveStatus) and, beside it, the restart tally
 * (evolveRestarts), which every state but `absent` carries once it is not all zero.
 */
export function evolve(state: ContainerState, event: ContainerEvent): ContainerState {
  const next = evolveStatus(state, event);
  if (next.status === "absent") return next;
  const before = state.status === "absent" ? NO_RESTARTS : (state.restarts ?? NO_RESTARTS);
  const tally = evolveRestarts(before, event);
  if (tally.count === 0 && !tally.manuallyStopped && tally.lastDelayMs === 0) {
    if (next.restarts === undefined) return next;
    const { restarts: _, ...rest } = next;
    return rest as ContainerState;
  }
  return { ...next, restarts: tally };
}

function withoutCheckpointStop(t: RestartTally): RestartTally {
  if (t.checkpointStop === undefined) return t;
  const { checkpointStop: _, ...rest } = t;
  return rest;
}

function evolveRestarts(t: RestartTally, event: ContainerEvent): RestartTally {
  switch (event.type) {
    case "ContainerStartRequested":
      return event.data.automatic === true ? { ...t, count: t.count + 1 } : NO_RESTARTS;
    case "ContainerRestartPlanned":
      return { ...t, lastDelayMs: event.data.delayMs };
    case "ContainerStopRequested":
    case "ContainerKillRequested":
      return { ...withoutCheckpointStop(t), manuallyStopped: true };
    case "ContainerCheckpointRequested":
      // The dump's exit is the user's stop: no restart policy brings the container back.
      if (event.data.leaveRunning || t.manuallyStopped) return t;
      return { ...t, manuallyStopped: true, checkpointStop: true };
    case "ContainerCheckpointed":
      return withoutCheckpointStop(t);
    case "ContainerCheckpointFailed":
      // The dump failed and the container runs on: as it was before the request.
      return t.checkpointStop === true ? { ...withoutCheckpointStop(t), manuallyStopped: false } : t;
    default:
      return t;
  }
}

function evolveStatus(state: ContainerState, event: ContainerEvent): ContainerState {
  if (event.type === "ContainerCreated") {
    const d = event.data;
    return {
      status: "created",
      container: {
        id: d.containerId,
        name: d.name,
        hostConfig: d.hostConfig,
        source: d.source,
        args: d.args,
        env: d.env,
        createdAt: d.createdAt,
      },
    };
  }
  if (state.status === "absent") {
    throw new InternalError(`container stream is corrupt: ${event.type} before ContainerCreated`);
  }
  const container = state.container;
  switch (event.type) {
    case "ContainerStartRequested": {
      const next: ContainerState = { status: "starting", container, startRequestedAt: event.data.requestedAt };
      if (event.data.fromCheckpoint !== undefined) next.fromCheckpoint = event.data.fromCheckpoint;
      if (event.data.restore !== undefined) next.restore = event.data.restore;
      if (event.data.configVersion !== undefined) next.configVersion = event.data.configVersion;
      return next;
    }
    case "ContainerScheduled":
      if (state.status === "removing") return { ...state, host: event.data.host };
      return { ...startOf(state), status: "scheduled", container, host: event.data.host };
    case "ContainerIpcPrepared":
      if (state.status === "removing") return { ...state, ipcPlan: event.data.plan };
      return { ...startOf(state), status: "ipc-prepared", container, host: hostOf(state), ipcPlan: event.data.plan };
    case "ContainerStarted": {
      const d = event.data;
      const process = {
        pid: d.pid,
        runtime: d.runtime,
        configVersion: d.configVersion,
        startedAt: d.startedAt,
        ...(d.ipcNamespaceInode !== undefined ? { ipcNamespaceInode: d.ipcNamespaceInode } : {}),
      };
      if (state.status === "removing") return { ...state, process };
      return { status: "running", container, host: hostOf(state), ipcPlan: ipcPlanOf(state), process };
    }
    case "ContainerStartFailed": {
      if (state.status === "removing") return withoutProcess(state);
      const { reason, exitCode, failedAt } = event.data;
      return { status: "start-failed", container, failure: { reason, exitCode, failedAt } };
    }
    case "ContainerExited": {
      if (state.status === "removing") return withoutProcess(state);
      const { exitCode, exitedAt, oomKilled } = event.data;
      return { status: "exited", container, lastExit: { exitCode, exitedAt, oomKilled } };
    }
    case "ContainerRestartPlanned": {
      if (state.status !== "exited" && state.status !== "lost") return state;
      // After a loss no exit was seen: it shows as the failure the policy counted.
      const lastExit = state.status === "exited" ? state.lastExit : { exitCode: LOST_EXIT_CODE, exitedAt: state.lostAt, oomKilled: false };
      return { status: "restarting", container, lastExit, restartDueAt: event.data.dueAt };
    }
    case "ContainerLost": {
      if (state.status === "removing") return state;
      const next: ContainerState = { status: "lost", container, host: event.data.host, lostAt: event.data.lostAt, reason: event.data.reason };
      if ("ipcPlan" in state && state.ipcPlan !== undefined) next.ipcPlan = state.ipcPlan;
      if ("process" in state && state.process !== undefined) next.process = state.process;
      return next;
    }
    case "ContainerRecovered": {
      if (state.status !== "lost" || state.process === undefined || state.ipcPlan === undefined) return state;
      return { status: "running", container, host: state.host, ipcPlan: state.ipcPlan, process: { ...state.process, pid: event.data.pid } };
    }
    case "ContainerStopRequested":
      // A restart waiting for its time is cancelled: the container stays exited.
      if (state.status === "restarting") return { status: "exited", container, lastExit: state.lastExit };
      return state;
    case "ContainerKillRequested":
      return state;
    case "ContainerRenamed":
      return { ...state, container: { ...container, name: event.data.newName } };
    case "ContainerPaused":
      if (state.status !== "running") return state;
      return { ...state, status: "paused", pausedAt: event.data.pausedAt };
    case "ContainerUnpaused": {
      if (state.status !== "paused") return state;
      const { pausedAt: _, ...rest } = state;
      return { ...rest, status: "running" };
    }
    case "ContainerRemovalRequested": {
      const next: ContainerState = {
        status: "removing",
        container,
        stopFirst: event.data.stopFirst,
        requestedAt: event.data.requestedAt,
      };
      if ("host" in state && state.host !== undefined) next.host = state.host;
      if ("ipcPlan" in state && state.ipcPlan !== undefined) next.ipcPlan = state.ipcPlan;
      if ("process" in state && state.process !== undefined) next.process = state.process;
      return next;
    }
    case "ContainerRemoved":
      return { status: "removed", container, removedAt: event.data.removedAt };
    case "ContainerDied":
      return { status: "dead", container, reason: event.data.reason, diedAt: event.data.diedAt };
    case "ContainerCheckpointRequested":
    case "ContainerCheckpointed":
    case "ContainerCheckpointFailed":
      // The dump's exit, when it ends the process, is recorded as any exit.
      return state;
    default:
      return assertNever(event, "container event");
  }
}

/** The container aggregate as one value, for command handlers and specs. */
export const containerDecider: Decider<ContainerState, ContainerCommand, ContainerEvent> = {
  decide,
  evolve,
  initialState,
};

function create(command: CreateContainer, state: ContainerState): ContainerEvent[] {
  const d = command.data;
  if (state.status !== "absent") throw new AlreadyExistsError(`container ${d.containerId} already exists`);
  const containerId = parseContainerId(d.containerId);
  const name = normalizeContainerName(d.name);
  const hostConfig = parseHostConfig(d.hostConfig);
  const ipc = hostConfig.ipcMode;
  if (ipc.kind === "container" && (ipc.ref === name || ipc.ref === containerId)) {
    throw new InvalidArgumentError(`invalid IPC mode: a container cannot join its own IPC namespace (container:${ipc.ref})`);
  }
  const source = parseSource(d.source);
  requireStrings("args", d.args);
  if (source.kind === "rootfs" && d.args.length === 0) throw new InvalidArgumentError("no command specified");
  requireStrings("env", d.env);
  for (const e of d.env) {
    if (!/^[^=]+=/.test(e)) throw new InvalidArgumentError(`invalid environment variable: ${e} (want KEY=VALUE)`);
  }
  requireTime("createdAt", d.createdAt);
  return [
    {
      type: "ContainerCreated",
      data: { containerId, name, hostConfig, source, args: [...d.args], env: [...d.env], createdAt: d.createdAt },
    },
  ];
}

function start(command: StartContainer, state: ContainerState): ContainerEvent[] {
  const { containerId, now, experimental } = command.data;
  const fromCheckpoint = command.data.fromCheckpoint || undefined;
  // Docker checks this before it even looks the container up.
  if (fromCheckpoint !== undefined && !experimental) {
    throw new FailedPreconditionError("checkpoint restore is only supported with experimental mode enabled");
  }
  const s = live(state, containerId);
  requireTime("now", now);
  const name = s.container.name;
  if (command.data.automatic === true && (s.status !== "restarting" || (s.restarts ?? NO_RESTARTS).manuallyStopped)) return [];
  switch (s.status) {
    case "paused":
      throw new FailedPreconditionError("cannot start a paused container, try unpause instead");
    case "running":
    case "starting":
    case "scheduled":
    case "ipc-prepared":
      return [];
    case "restarting": {
      // Docker shows it running: a user's start is a no-op; the restarter's starts it.
      if (command.data.automatic !== true) return [];
      let data: ContainerEventData<"ContainerStartRequested">;
      try {
        data = startRequestData(command, s);
      } catch (err) {
        if (!(err instanceof NotFoundError || err instanceof FailedPreconditionError)) throw err;
        // The IPC join is refused now (the owner is gone or stopped): the restart fails as a
        // start does, with nobody waiting to be told, and the policy ends there.
        const requestedAt = command.data.now;
        return [
          { type: "ContainerStartRequested", data: { containerId: s.container.id, requestedAt, automatic: true } },
          { type: "ContainerStartFailed", data: { containerId: s.container.id, reason: err.message, exitCode: 128, failedAt: requestedAt } },
        ];
      }
      return [{ type: "ContainerStartRequested", data }];
    }
    case "lost":
      throw lostRefusal(s);
    case "removing":
      throw new FailedPreconditionError(`container ${name} is marked for removal and cannot be started`);
    case "dead":
      throw new FailedPreconditionError(`container ${name} is marked as dead and cannot be started`);
    case "created":
    case "exited":
    case "start-failed": {
      // A start from a checkpoint the container does not have is NOT_FOUND, never a fresh start.
      if (fromCheckpoint !== undefined && command.data.checkpoint?.name !== fromCheckpoint) throw noSuchCheckpoint(fromCheckpoint, `/${name}`);
      return [{ type: "ContainerStartRequested", data: startRequestData(command, s) }];
    }
    default:
      return assertNever(s, "container status");
  }
}

/** The start request for a container that may start: the config version, the IPC join checked, `automatic` kept. */
function startRequestData(command: StartContainer, s: Live): ContainerEventData<"ContainerStartRequested"> {
  const data: ContainerEventData<"ContainerStartRequested"> = { containerId: s.container.id, requestedAt: command.data.now };
  const configVersion = command.data.configVersion;
  if (configVersion !== undefined) {
    if (!Number.isSafeInteger(configVersion) || configVersion < 0) throw new InvalidArgumentError(`invalid configVersion: ${configVersion}`);
    data.configVersion = configVersion;
  }
  // A record made before IPC modes existed has no mode (it is shareable).
  const ipc = s.container.hostConfig.ipcMode as IpcMode | undefined;
  if (ipc?.kind === "container") {
    // Docker's order: the join is checked when the member starts, not when it is created.
    const refusal = ipcJoinRefusal(ipc.ref, s.container.id, command.data.ipcOwner);
    if (refusal !== undefined) throw refusal;
    data.ipcOwnerId = command.data.ipcOwner!.containerId;
  }
  if (command.data.automatic === true) data.automatic = true;
  if (command.data.fromCheckpoint && command.data.checkpoint !== undefined) {
    data.fromCheckpoint = command.data.fromCheckpoint;
    data.restore = { ...command.data.checkpoint };
  }
  if (command.data.host !== undefined && command.data.host !== "") data.host = command.data.host;
  const avoid = command.data.avoidHosts;
  if (avoid !== undefined && avoid.length > 0) {
    requireStrings("avoidHosts", avoid);
    data.avoidHosts = [...avoid];
  }
  return data;
}

/** Docker's answer to kill or pause while a restart waits. */
function restartingRefusal(id: string): FailedPreconditionError {
  return new FailedPreconditionError(`Container ${id} is restarting, wait until the container is running`);
}

function recordScheduled(command: RecordScheduled, s: Live): ContainerEvent[] {
  requireText("host", command.data.host);
  requireTime("now", command.data.now);
  const owner = command.data.ipcOwnerId;
  if (owner !== undefined) requireText("ipcOwnerId", owner);
  if (s.status !== "starting" && !(s.status === "removing" && s.host === undefined)) {
    throw new FailedPreconditionError(`container ${s.container.name} is not waiting to be scheduled (status ${s.status})`);
  }
  const reserved = command.data.reservedBytes;
  const cpus = command.data.reservedNanoCpus;
  return [
    {
      type: "ContainerScheduled",
      data: {
        containerId: s.container.id,
        host: command.data.host,
        scheduledAt: command.data.now,
        ...(owner !== undefined ? { ipcOwnerId: owner } : {}),
        ...(reserved !== undefined ? { reservedBytes: reserved } : {}),
        ...(cpus !== undefined ? { reservedNanoCpus: cpus } : {}),
      },
    },
  ];
}

function recordIpcPrepared(command: RecordIpcPrepared, s: Live): ContainerEvent[] {
  requireIpcPlan(command.data.plan);
  requireTime("now", command.data.now);
  if (s.status !== "scheduled" && !(s.status === "removing" && s.host !== undefined && s.ipcPlan === undefined)) {
    throw new FailedPreconditionError(`container ${s.container.name} has no IPC setup pending (status ${s.status})`);
  }
  return [{ type: "ContainerIpcPrepared", data: { containerId: s.container.id, plan: command.data.plan, preparedAt: command.data.now } }];
}

function recordStarted(command: RecordStarted, s: Live): ContainerEvent[] {
  const d = command.data;
  requirePositiveInteger("pid", d.pid);
  if (d.ipcNamespaceInode !== undefined) requirePositiveInteger("ipcNamespaceInode", d.ipcNamespaceInode);
  requireRuntime(d.runtime);
  requirePositiveInteger("configVersion", d.configVersion);
  requireTime("now", d.now);
  if (s.status !== "ipc-prepared" && !(s.status === "removing" && s.ipcPlan !== undefined && s.process === undefined)) {
    throw new FailedPreconditionError(`container ${s.container.name} is not being started (status ${s.status})`);
  }
  const data: ContainerEventData<"ContainerStarted"> = {
    containerId: s.container.id,
    pid: d.pid,
    runtime: { name: d.runtime.name, path: d.runtime.path, args: [...d.runtime.args] },
    // The snapshot the start was requested under (RCU), else the one in force now.
    configVersion: (s.status === "ipc-prepared" ? s.configVersion : undefined) ?? d.configVersion,
    startedAt: d.now,
  };
  if (d.ipcNamespaceInode !== undefined) data.ipcNamespaceInode = d.ipcNamespaceInode;
  return [{ type: "ContainerStarted", data }];
}

function recordStartFailed(command: RecordStartFailed, s: Live): ContainerEvent[] {
  const { reason, exitCode, now } = command.data;
  requireText("reason", reason);
  requireExitCode(exitCode);
  requireTime("now", now);
  // A start whose host was lost before it started anything ends here too (its host came back without it).
  const lostStarting = s.status === "lost" && s.process === undefined;
  if (!isStarting(s) && !lostStarting && !(s.status === "removing" && s.process === undefined)) {
    throw new FailedPreconditionError(`container ${s.container.name} is not being started (status ${s.status})`);
  }
  const events: ContainerEvent[] = [
    { type: "ContainerStartFailed", data: { containerId: s.container.id, reason, exitCode, failedAt: now } },
  ];
  if (s.status !== "removing" && s.container.hostConfig.autoRemove) {
    events.push({ type: "ContainerRemovalRequested", data: { containerId: s.container.id, stopFirst: false, requestedAt: now } });
  }
  return events;
}

function recordExited(command: RecordExited, s: Live): ContainerEvent[] {
  const { exitCode, exitedAt } = command.data;
  requireExitCode(exitCode);
  requireTime("exitedAt", exitedAt);
  // A lost container's exit, found when its host came back, is its exit as any other.
  const running = s.status === "running" || s.status === "paused" || (s.status === "lost" && s.process !== undefined);
  if (!running && !(s.status === "removing" && s.process !== undefined)) {
    throw new FailedPreconditionError(`container ${s.container.name} is not running (status ${s.status})`);
  }
  const reporter = command.data.host;
  const placed = "host" in s ? s.host : undefined;
  if (reporter !== undefined && placed !== undefined && reporter !== placed) {
    throw new FailedPreconditionError(`exit of container ${s.container.name} reported by host ${reporter}, but it runs on host ${placed}`);
  }
  const events: ContainerEvent[] = [
    {
      type: "ContainerExited",
      data: { containerId: s.container.id, exitCode, exitedAt, oomKilled: command.data.oomKilled ?? false },
    },
  ];
  if (running && s.container.hostConfig.autoRemove) {
    events.push({ type: "ContainerRemovalRequested", data: { containerId: s.container.id, stopFirst: false, requestedAt: exitedAt } });
  } else if (running) {
    events.push(...restartPlan(s, exitCode, exitedAt, s.process?.startedAt));
  }
  return events;
}

/**
 * ContainerRestartPlanned when the container's restart policy restarts it after an exit
 * (or a loss, counted as a failure) at `at`; nothing otherwise (restart-policy.ts).
 */
function restartPlan(s: Live, exitCode: number, at: string, startedAt: string | undefined): ContainerEvent[] {
  const tally = s.restarts ?? NO_RESTARTS;
  const decision = decideRestart({
    policy: s.container.hostConfig.restartPolicy ?? NO_RESTART,
    exitCode,
    restartCount: tally.count,
    manuallyStopped: tally.manuallyStopped,
    ranForMs: startedAt === undefined ? 0 : Math.max(0, Date.parse(at) - Date.parse(startedAt)),
    previousDelayMs: tally.lastDelayMs,
  });
  if (!decision.restart) return [];
  const dueAt = new Date(Date.parse(at) + decision.delayMs).toISOString();
  return [
    {
      type: "ContainerRestartPlanned",
      data: { containerId: s.container.id, restartCount: tally.count + 1, delayMs: decision.delayMs, dueAt, plannedAt: at },
    },
  ];
}

/** What a loss does to a container still placed on the lost host: lost, and maybe a restart planned elsewhere. */
function recordLost(command: Extract<ContainerCommand, { type: "RecordLost" }>, s: Live): ContainerEvent[] {
  const { host, now, reason } = command.data;
  requireText("host", host);
  requireText("reason", reason);
  requireTime("now", now);
  const placedThere =
    (s.status === "scheduled" || s.status === "ipc-prepared" || s.status === "running" || s.status === "paused") && s.host === host;
  if (!placedThere) return [];
  const events: ContainerEvent[] = [{ type: "ContainerLost", data: { containerId: s.container.id, host, reason, lostAt: now } }];
  // A loss is not an exit the policy can see the code of: it counts as a failure.
  const startedAt = s.status === "running" || s.status === "paused" ? s.process.startedAt : undefined;
  events.push(...restartPlan(s, LOST_EXIT_CODE, now, startedAt));
  return events;
}

/** The exit code a restart policy sees for a loss: a failure, as a SIGKILL (128 + 9). */
const LOST_EXIT_CODE = 137;

function lostRefusal(s: Extract<Live, { status: "lost" }>): FailedPreconditionError {
  return new FailedPreconditionError(`container ${s.container.name} is lost: its host ${s.host} does not answer (remove it with force, or wait for the host)`);
}

function remove(command: RemoveContainer, s: Live): ContainerEvent[] {
  requireTime("now", command.data.now);
  const name = s.container.name;
  if (s.status === "removing") throw new FailedPreconditionError(`removal of container ${name} is already in progress`);
  if (s.status === "restarting" && !command.data.force) {
    throw new FailedPreconditionError(
      `You cannot remove a restarting container ${s.container.id}. Stop the container before attempting removal or force remove`,
    );
  }
  const hasProcess = s.status === "running" || s.status === "paused" || s.status === "lost" || isStarting(s);
  if (hasProcess && !command.data.force) {
    throw new FailedPreconditionError(
      `You cannot remove a running container ${s.container.id}. Stop the container before attempting removal or force remove`,
    );
  }
  return [
    { type: "ContainerRemovalRequested", data: { containerId: s.container.id, stopFirst: hasProcess, requestedAt: command.data.now } },
  ];
}

type ContainerEventData<T extends ContainerEvent["type"]> = Extract<ContainerEvent, { type: T }>["data"];

/** The stream's state when it holds a container not yet removed; NotFoundError otherwise. */
function live(state: ContainerState, containerId: string): Live {
  if (state.status === "absent" || state.status === "removed") {
    throw new NotFoundError(`No such container: ${containerId}`);
  }
  if (state.container.id !== containerId) {
    throw new InternalError(`command for container ${containerId} sent to the stream of ${state.container.id}`);
  }
  return state;
}

function isStarting(s: ContainerState): s is Extract<ContainerState, { status: "starting" | "scheduled" | "ipc-prepared" }> {
  return s.status === "starting" || s.status === "scheduled" || s.status === "ipc-prepared";
}

function startOf(state: Existing): { startRequestedAt: string; fromCheckpoint?: string; restore?: RestoreFrom; configVersion?: number } {
  if (!isStarting(state)) throw new InternalError(`container stream is corrupt: start progress in status ${state.status}`);
  const out: { startRequestedAt: string; fromCheckpoint?: string; restore?: RestoreFrom; configVersion?: number } = { startRequestedAt: state.startRequestedAt };
  if (state.fromCheckpoint !== undefined) out.fromCheckpoint = state.fromCheckpoint;
  if (state.restore !== undefined) out.restore = state.restore;
  if (state.configVersion !== undefined) out.configVersion = state.configVersion;
  return out;
}

function hostOf(state: Existing): string {
  if ("host" in state && state.host !== undefined) return state.host;
  throw new InternalError(`container stream is corrupt: no host in status ${state.status}`);
}

function ipcPlanOf(state: Existing): IpcPlan {
  if ("ipcPlan" in state && state.ipcPlan !== undefined) return state.ipcPlan;
  throw new InternalError(`container stream is corrupt: no IPC plan in status ${state.status}`);
}

function withoutProcess(state: Extract<ContainerState, { status: "removing" }>): ContainerState {
  const { process: _, ...rest } = state;
  return rest;
}

function parseSource(source: ContainerSource): ContainerSource {
  if (source?.kind === "rootfs") {
    if (typeof source.path !== "string" || !source.path.startsWith("/")) {
      throw new InvalidArgumentError(`invalid rootfs: ${String(source.path)} (want an absolute path)`);
    }
    return { kind: "rootfs", path: source.path };
  }
  if (source?.kind === "image") {
    if (typeof source.ref !== "string" || !/^\S+$/.test(source.ref)) {
      throw new InvalidArgumentError(`invalid image reference: ${String(source.ref)}`);
    }
    const digest = /^sha256:[0-9a-f]{64}$/;
    if ((source.id !== undefined && !digest.test(source.id)) || (source.digest !== undefined && !digest.test(source.digest))) {
      throw new InvalidArgumentError(`invalid image id or digest: ${String(source.id)} ${String(source.digest)}`);
    }
    return {
      kind: "image",
      ref: source.ref,
      ...(source.id !== undefined ? { id: source.id } : {}),
      ...(source.digest !== undefined ? { digest: source.digest } : {}),
    };
  }
  throw new InvalidArgumentError("a container needs a rootfs directory or an image");
}

function requireTime(field: string, value: string): void {
  if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(Date.parse(value))) {
    throw new InvalidArgumentError(`invalid ${field}: ${String(value)} (want an ISO-8601 time)`);
  }
}

function requireText(field: string, value: string): void {
  if (typeof value !== "string" || value.trim() === "") throw new InvalidArgumentError(`${field} must not be empty`);
}

function requireStrings(field: string, value: string[]): void {
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new InvalidArgumentError(`${field} must be a list of strings`);
  }
}

function requirePositiveInteger(field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidArgumentError(`invalid ${field}: ${value}`);
}

function requireExitCode(value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new InvalidArgumentError(`invalid exit code: ${value}`);
}

function requireRuntime(r: LockedInRuntime): void {
  if (typeof r?.name !== "string" || r.name === "") throw new InvalidArgumentError("runtime.name must not be empty");
  if (typeof r.path !== "string" || !r.path.startsWith("/")) {
    throw new InvalidArgumentError(`invalid runtime.path: ${String(r.path)} (want an absolute path)`);
  }
  requireStrings("runtime.args", r.args);
}

function requireIpcPlan(plan: IpcPlan): void {
  const modes = ["none", "private", "shareable", "host", "container"];
  if (typeof plan !== "object" || plan === null || !modes.includes(plan.mode)) {
    throw new InvalidArgumentError(`invalid IPC plan: ${JSON.stringify(plan)}`);
  }
}
