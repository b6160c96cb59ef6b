/**
 * The preparation step of a start: on ContainerScheduled, plan the container's IPC
 * setup, make the owner's shm mount on its host, record the group, then record
 * ContainerIpcPrepared{plan} — or ContainerStartFailed when the plan is refused or the
 * mount cannot be made.
 *
 * Order, per start (under the owner's lock):
 *   owner:  MountShm → IpcGroupFormed + ShmMountCreated → ContainerIpcPrepared
 *   member: IpcGroupMemberJoined → ContainerIpcPrepared
 * Every append has an id derived from the ContainerScheduled event, and MountShm is
 * idempotent on the agent, so a redelivery (or a kill -9 anywhere in between) redoes
 * what is missing and duplicates nothing.
 */
import {
  AlreadyExistsError,
  CONTAINER_EVENT_SCHEMA_VERSIONS,
  FailedPreconditionError,
  UnavailableError,
  containerDecider,
  containerStreamId,
  derivedEventId,
  ipcGroupStreamId,
  resolveIpcMode,
} from "@shoal/domain";
import type { ContainerCommand, ContainerEvent, ContainerScheduled, HostConfig, IpcPlan } from "@shoal/domain";
import { handleCommand } from "@shoal/event-store";
import { sendHostCommand } from "@shoal/bus";
import type { EventEnvelope } from "@shoal/bus";
import type { CommandPayload } from "@shoal/host-protocol";
import { IPC_GROUP_EVENT_SCHEMA_VERSIONS, ipcGroupDecider } from "./ipc-group-decider";
import type { IpcGroupCommand } from "./ipc-group-decider";
import { planIpc } from "./ipc-planner";
import type { IpcOwnerView, MountedShm } from "./ipc-planner";
import { readContainer, readGroup, readIpcConfig, resolveContainerRef } from "./log-views";
import type { FlowDeps } from "./flow-deps";

/** Deliveries of one ContainerScheduled that may find the host unreachable before the start is failed. */
export const HOST_ATTEMPTS = 5;

/** Exit code of a start Shoal refuses (as `docker run` exits 125 when the daemon refuses). */
const REFUSED_EXIT_CODE = 125;
/** Exit code when the host could not set the container up. */
const HOST_FAILED_EXIT_CODE = 128;

export type PrepareOutcome = "prepared" | "refused" | "failed" | "skipped";

/**
 * Handles one ContainerScheduled. Throws (so the message is redelivered) only for
 * transient trouble: the database, or a host that does not answer on an early delivery.
 */
export async function prepareIpc(deps: FlowDeps, event: EventEnvelope, deliveryCount: number): Promise<PrepareOutcome> {
  const scheduled = event.data as ContainerScheduled["data"];
  const containerId = scheduled.containerId;
  const preparedId = derivedEventId(`ipc-prepared:${event.eventId}`);
  const failedId = derivedEventId(`ipc-failed:${event.eventId}`);
  const log = deps.log.child({ containerId, scheduledEventId: event.eventId });

  const current = await readContainer(deps.store, containerId);
  if (current.recorded.some((r) => r.eventId === preparedId || r.eventId === failedId)) return skip("already handled");
  const lastScheduled = current.recorded.findLast((r) => r.type === "ContainerScheduled");
  if (lastScheduled?.eventId !== event.eventId) return skip("a later placement superseded this one");
  if (current.state.status !== "scheduled") return skip(`container is ${current.state.status}`);

  const hostConfig = current.state.container.hostConfig as Partial<HostConfig>;
  const config = await readIpcConfig(deps.store);
  const host = current.state.host;
  const requestedMode = hostConfig.ipcMode;

  let owner: IpcOwnerView | undefined;
  if (requestedMode?.kind === "container") {
    const ownerId = await resolveContainerRef(deps.db, deps.store, requestedMode.ref);
    if (ownerId !== undefined) owner = await ownerView(deps, ownerId);
  }
  let mountedShm: MountedShm | undefined;
  if (resolveIpcMode(requestedMode, config.defaultIpcMode).kind === "shareable") {
    const group = await readGroup(deps.store, containerId);
    if (group.state.status === "formed" && group.state.shmMounted) {
      mountedShm = { host: group.state.host, sizeBytes: group.state.shmSizeBytes, path: group.state.shmMountPath };
    }
  }

  const planning = planIpc({
    containerId,
    requestedMode,
    requestedShmSize: hostConfig.shmSize,
    host,
    config,
    ...(owner ? { owner } : {}),
    ...(mountedShm ? { mountedShm } : {}),
  });
  if (!planning.ok) {
    await recordStartFailed(deps, containerId, failedId, planning.error.message, REFUSED_EXIT_CODE);
    deps.metrics.count("prepare", "refused");
    log.info({ mode: planning.mode.kind, reason: planning.error.message }, "IPC plan refused; start failed");
    return "refused";
  }

  let plan = planning.plan;
  const lockKey = plan.mode === "container" ? plan.ownerId : containerId;
  return deps.locks.run(lockKey, async () => {
    // Re-check under the lock: a removal or a release may have run while we planned.
    const again = await readContainer(deps.store, containerId);
    if (again.recorded.some((r) => r.eventId === preparedId || r.eventId === failedId)) return skip("already handled");
    if (again.state.status !== "scheduled") return skip(`container is ${again.state.status}`);

    if (plan.mode === "shareable") {
      let mountedPath: string;
      try {
        mountedPath = await mountShm(deps, host, { containerId, sizeBytes: plan.shmSizeBytes });
      } catch (err) {
        if (err instanceof UnavailableError && deliveryCount < HOST_ATTEMPTS) throw err;
        const reason = `could not mount /dev/shm of container ${containerId} on host ${host}: ${(err as Error).message}`;
        await recordStartFailed(deps, containerId, failedId, reason, HOST_FAILED_EXIT_CODE);
        deps.metrics.count("prepare", "failed");
        log.warn({ err }, "shm mount failed; start failed");
        return "failed";
      }
      if (mountedPath !== plan.shmMountPath) {
        // The agent's state root wins: the plan must name the tmpfs that exists.
        log.warn({ planned: plan.shmMountPath, mounted: mountedPath }, "host mounted shm under another state root than the config's");
        plan = { ...plan, shmMountPath: mountedPath };
      }
      await groupCommand(deps, containerId, event.eventId, {
        type: "FormIpcGroup",
        data: { ownerId: containerId, host, shmSizeBytes: plan.shmSizeBytes, shmMountPath: plan.shmMountPath, now: deps.now() },
      });
    } else if (plan.mode === "container") {
      try {
        await groupCommand(deps, plan.ownerId, event.eventId, { type: "JoinIpcGroup", data: { memberId: containerId, now: deps.now() } });
        deps.metrics.count("join", "ok");
      } catch (err) {
        if (!(err instanceof FailedPreconditionError)) throw err;
        // The owner's mount went away after we planned: the owner is no longer running.
        const ref = requestedMode?.kind === "container" ? requestedMode.ref : plan.ownerId;
        await recordStartFailed(deps, containerId, failedId, `container ${ref} is not running`, REFUSED_EXIT_CODE);
        deps.metrics.count("join", "refused");
        return "refused";
      }
    }
    return recordPrepared(deps, containerId, preparedId, plan, log);
  });

  function skip(why: string): PrepareOutcome {
    log.debug({ why }, "ContainerScheduled needs no IPC preparation");
    deps.metrics.count("prepare", "skipped");
    return "skipped";
  }
}

async function ownerView(deps: FlowDeps, ownerId: string): Promise<IpcOwnerView | undefined> {
  const { state } = await readContainer(deps.store, ownerId);
  if (state.status === "absent" || state.status === "removed") return undefined;
  if (state.status === "running" || state.status === "paused") {
    return { containerId: ownerId, running: true, pid: state.process.pid, host: state.host, plan: state.ipcPlan };
  }
  return { containerId: ownerId, running: false };
}

/** MountShm on `host`; resolves with the path the agent mounted. Errors are the agent's (or UnavailableError). */
async function mountShm(deps: FlowDeps, host: string, payload: CommandPayload<"MountShm">): Promise<string> {
  try {
    const result = await sendHostCommand<{ shmMountPath?: string }>(deps.nc, {
      prefix: deps.prefix,
      host,
      command: "MountShm",
      payload,
      timeoutMs: deps.hostCommandTimeoutMs,
    });
    deps.metrics.count("mount", "ok");
    if (typeof result?.shmMountPath !== "string") throw new UnavailableError(`host ${host} answered MountShm without a path`);
    return result.shmMountPath;
  } catch (err) {
    deps.metrics.count("mount", "failed");
    throw err;
  }
}

/** Appends a group command's events with ids derived from `causeId`; a redelivered cause appends nothing. */
export async function groupCommand(deps: FlowDeps, ownerId: string, causeId: string, command: IpcGroupCommand): Promise<void> {
  await handleCommand(deps.store, {
    streamId: ipcGroupStreamId(ownerId),
    decider: ipcGroupDecider,
    command,
    eventId: (e) => derivedEventId(`${e.type}:${ownerId}:${causeId}`),
    schemaVersion: (type) => IPC_GROUP_EVENT_SCHEMA_VERSIONS[type],
    metadata: { causationId: causeId, actor: "mount-manager" },
  });
}

async function recordPrepared(
  deps: FlowDeps,
  containerId: string,
  preparedId: string,
  plan: IpcPlan,
  log: FlowDeps["log"],
): Promise<PrepareOutcome> {
  try {
    await containerCommand(deps, containerId, preparedId, { type: "RecordIpcPrepared", data: { containerId, now: deps.now(), plan } });
  } catch (err) {
    // The container moved on (a forced removal overtook the start); the release flow cleans up.
    if (err instanceof FailedPreconditionError) {
      log.info({ reason: err.message }, "IPC prepared but the container no longer waits for it");
      deps.metrics.count("prepare", "skipped");
      return "skipped";
    }
    throw err;
  }
  deps.metrics.count("prepare", "ok");
  log.info({ mode: plan.mode }, "IPC prepared");
  return "prepared";
}

async function recordStartFailed(deps: FlowDeps, containerId: string, failedId: string, reason: string, exitCode: number): Promise<void> {
  try {
    await containerCommand(deps, containerId, failedId, {
      type: "RecordStartFailed",
      data: { containerId, now: deps.now(), reason, exitCode },
    });
  } catch (err) {
    if (err instanceof FailedPreconditionError || err instanceof AlreadyExistsError) return;
    throw err;
  }
}

async function containerCommand(deps: FlowDeps, containerId: string, firstEventId: string, command: ContainerCommand): Promise<void> {
  await handleCommand(deps.store, {
    streamId: containerStreamId(containerId),
    decider: containerDecider,
    command,
    // The first event carries the derived id the redelivery check looks for; `--rm` adds a second.
    eventId: (_e: ContainerEvent, i) => (i === 0 ? firstEventId : derivedEventId(`${firstEventId}:${i}`)),
    schemaVersion: (type) => CONTAINER_EVENT_SCHEMA_VERSIONS[type],
    metadata: { causationId: firstEventId, actor: "mount-manager" },
  });
}
