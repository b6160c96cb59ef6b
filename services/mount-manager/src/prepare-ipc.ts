/**
 * The preparation step of a start: on ContainerScheduled, plan the container's IPC
 * setup and record it — the group's events and ContainerIpcPrepared{plan} in one
 * statement — or ContainerStartFailed when the plan is refused. It sends no host command
 * on the start path: for an owner, ShmMountCreated is the order to mount, and the owner's
 * agent makes the tmpfs as the first step of StartContainer (which the api dispatches on
 * ContainerIpcPrepared), at the plan's path under the state root its host registered with.
 *
 * Order, per start (under the owner's lock):
 *   owner:  [a leftover mount elsewhere: UnmountShm → ShmMountRemoved, best effort]
 *           IpcGroupFormed + ShmMountCreated + ContainerIpcPrepared   (one statement)
 *   member: IpcGroupMemberJoined + ContainerIpcPrepared               (one statement)
 * Every append has an id derived from the ContainerScheduled event, so a redelivery (or a
 * kill -9 anywhere in between) redoes what is missing and duplicates nothing.
 *
 * Crash safety: the log orders a mount before any host can make one (the agent mounts only
 * for a StartContainer, sent after ContainerIpcPrepared commits), and a statement that
 * does not commit leaves nothing to undo on a host. A mount the agent cannot make fails the
 * start there: its ContainerStartFailed reaches the release step (release-shm.ts), which
 * finds the group mounted in the log with nobody live, sends UnmountShm (a no-op on a host
 * with nothing mounted) and records ShmMountRemoved.
 */
import {
  AbortedError,
  AlreadyExistsError,
  CONTAINER_EVENT_SCHEMA_VERSIONS,
  FailedPreconditionError,
  NotFoundError,
  containerDecider,
  containerStreamId,
  derivedEventId,
  ipcGroupStreamId,
  resolveIpcMode,
} from "@shoal/domain";
import type { ContainerCommand, ContainerEvent, ContainerScheduled, ContainerState, HostConfig, IpcPlan } from "@shoal/domain";
import { foldStream, handleCommand } from "@shoal/event-store";
import { sendHostCommand } from "@shoal/bus";
import type { EventEnvelope } from "@shoal/bus";
import { IPC_GROUP_EVENT_SCHEMA_VERSIONS, ipcGroupDecider } from "./ipc-group-decider";
import type { IpcGroupCommand } from "./ipc-group-decider";
import { planIpc } from "./ipc-planner";
import type { IpcOwnerView, MountedShm } from "./ipc-planner";
import { hostIsLost, readPreparationInputs } from "./log-views";
import type { GroupView } from "./log-views";
import { groupCommand } from "./group-command";
import type { FlowDeps } from "./flow-deps";

/** Exit code of a start Shoal refuses (as `docker run` exits 125 when the daemon refuses). */
const REFUSED_EXIT_CODE = 125;

export type PrepareOutcome = "prepared" | "refused" | "skipped";

/**
 * Handles one ContainerScheduled. Throws (so the message is redelivered) only for
 * transient trouble: the database.
 */
export async function prepareIpc(deps: FlowDeps, event: EventEnvelope): Promise<PrepareOutcome> {
  const started = performance.now();
  const label = { mode: "" };
  const outcome = await prepare(deps, event, label);
  if (outcome === "prepared") deps.metrics.observePrepare(label.mode, (performance.now() - started) / 1000);
  return outcome;
}

async function prepare(deps: FlowDeps, event: EventEnvelope, label: { mode: string }): Promise<PrepareOutcome> {
  const scheduled = event.data as ContainerScheduled["data"];
  const containerId = scheduled.containerId;
  const preparedId = derivedEventId(`ipc-prepared:${event.eventId}`);
  const failedId = derivedEventId(`ipc-failed:${event.eventId}`);
  const log = deps.log.child({ containerId, scheduledEventId: event.eventId });

  // Everything the plan depends on, in one query.
  const inputs = await readPreparationInputs(deps.store, containerId, scheduled.host, scheduled.ipcOwnerId);
  const { current, config, ownGroup, hostStateRoot, owner: ownerRead } = inputs;
  if (current.recorded.some((r) => r.eventId === preparedId || r.eventId === failedId)) return skip("already handled");
  const lastScheduled = current.recorded.findLast((r) => r.type === "ContainerScheduled");
  if (lastScheduled?.eventId !== event.eventId) return skip("a later placement superseded this one");
  // Moved on (removed, failed) before it was prepared: nothing was ordered, so nothing is on a host.
  if (current.state.status !== "scheduled") return skip(`container is ${current.state.status}`);

  const hostConfig = current.state.container.hostConfig as Partial<HostConfig>;
  const host = current.state.host;
  const requestedMode = hostConfig.ipcMode;

  // A member's owner is the one its start request resolved (carried on ContainerScheduled):
  // the name is never resolved again, so a name re-pointed since cannot swap owners.
  const owner = requestedMode?.kind === "container" && ownerRead !== undefined ? ownerViewOf(ownerRead.containerId, ownerRead.view.state) : undefined;
  let mountedShm: MountedShm | undefined;
  if (resolveIpcMode(requestedMode, config.defaultIpcMode).kind === "shareable") {
    const g = ownGroup.state;
    if (g.status === "formed" && g.shmMounted && g.members.length > 0 && g.host !== host && (await hostIsLost(deps.store, g.host))) {
      // The group's old host is lost and the owner is being placed again elsewhere (its
      // restart policy): its members there cannot share with the new run. They leave, the
      // old mount is let go in the log (the lost host unmounts it when it returns and is
      // fenced), and the group forms anew here; the members join it when they restart.
      for (const memberId of g.members) {
        await groupCommand(deps, containerId, `lost-host:${event.eventId}:${memberId}`, {
          type: "LeaveIpcGroup",
          data: { memberId, reason: `host ${g.host} lost`, now: deps.now() },
        });
      }
      await groupCommand(deps, containerId, `lost-host:${event.eventId}`, { type: "ReleaseShmMount", data: { ownerLive: false, now: deps.now() } });
      log.warn({ lostHost: g.host, members: g.members }, "the group's host is lost: its members left and its shm mount was let go; the group forms anew");
      return prepare(deps, event, label);
    }
    if (g.status === "formed" && g.shmMounted && g.members.length > 0) {
      mountedShm = { host: g.host, sizeBytes: g.shmSizeBytes, path: g.shmMountPath };
    }
  }

  const planning = planIpc({
    containerId,
    requestedMode,
    requestedShmSize: hostConfig.shmSize,
    host,
    ...(hostStateRoot !== undefined ? { hostStateRoot } : {}),
    config,
    ...(owner ? { owner } : {}),
    ...(mountedShm ? { mountedShm } : {}),
  });
  label.mode = planning.mode.kind;
  if (!planning.ok) {
    await recordStartFailed(deps, containerId, failedId, planning.error.message, REFUSED_EXIT_CODE);
    deps.metrics.count("prepare", "refused");
    log.info({ mode: planning.mode.kind, reason: planning.error.message }, "IPC plan refused; start failed");
    return "refused";
  }

  const plan = planning.plan;
  const lockKey = plan.mode === "container" ? plan.ownerId : containerId;
  return deps.locks.run(lockKey, async () => {
    // No re-read here: the record appends against the versions read above, so a container or
    // group that moved since is ABORTED and re-read (a removal that overtook us is "moved-on",
    // a released mount refuses a join).
    let group: { ownerId: string; command: IpcGroupCommand; known: GroupView | undefined } | undefined;
    if (plan.mode === "shareable") {
      const released = await releaseLeftoverMount(deps, ownGroup, plan, host, log);
      // The order to mount: the owner's agent makes it as the first step of its start.
      group = {
        ownerId: containerId,
        command: {
          type: "FormIpcGroup",
          data: { ownerId: containerId, host, shmSizeBytes: plan.shmSizeBytes, shmMountPath: plan.shmMountPath, now: deps.now() },
        },
        known: released ? undefined : ownGroup,
      };
    } else if (plan.mode === "container") {
      group = {
        ownerId: plan.ownerId,
        command: { type: "JoinIpcGroup", data: { memberId: containerId, now: deps.now() } },
        known: ownerRead?.containerId === plan.ownerId ? ownerRead.group : undefined,
      };
    }

    const recorded = await recordPreparation(deps, { containerId, preparedId, plan, causeId: event.eventId, group, known: current });
    switch (recorded.result) {
      case "prepared":
        if (plan.mode === "container") deps.metrics.count("join", "ok");
        deps.metrics.count("prepare", "ok");
        log.info({ mode: plan.mode }, "IPC prepared");
        return "prepared";
      case "duplicate":
        return skip("recorded by an earlier delivery");
      case "group-refused": {
        // The owner's mount went away after we planned (the owner stopped), or a race moved it.
        const reason =
          plan.mode === "container"
            ? `container ${requestedMode?.kind === "container" ? requestedMode.ref : plan.ownerId} is not running`
            : recorded.message;
        await recordStartFailed(deps, containerId, failedId, reason, REFUSED_EXIT_CODE);
        deps.metrics.count(plan.mode === "container" ? "join" : "prepare", "refused");
        return "refused";
      }
      case "moved-on":
        // A removal overtook the start: the whole statement rolled back, so no mount was ordered.
        log.info({ reason: recorded.message }, "IPC planned but the container no longer waits for it");
        return skip("the container moved on");
    }
  });

  function skip(why: string): PrepareOutcome {
    log.debug({ why }, "ContainerScheduled needs no IPC preparation");
    deps.metrics.count("prepare", "skipped");
    return "skipped";
  }
}

/**
 * A mount nobody holds that the owner's new run will not reuse (another host, size or path:
 * its release never finished) is unmounted first, best effort. If its host does not answer,
 * the new run supersedes it in the log (FormIpcGroup) and that host's agent removes it at its
 * own reconcile, since no live container owns it.
 */
async function releaseLeftoverMount(
  deps: FlowDeps,
  group: GroupView,
  plan: Extract<IpcPlan, { mode: "shareable" }>,
  host: string,
  log: FlowDeps["log"],
): Promise<boolean> {
  // `group` was read just before taking the lock: if a release ran in between, the
  // UnmountShm is a no-op on the host and ReleaseShmMount records nothing.
  const g = group.state;
  if (g.status !== "formed" || !g.shmMounted || g.members.length > 0) return false;
  const ownerId = g.ownerId;
  if (g.host === host && g.shmSizeBytes === plan.shmSizeBytes && g.shmMountPath === plan.shmMountPath) return false;
  try {
    await sendHostCommand(deps.nc, {
      prefix: deps.prefix,
      host: g.host,
      command: "UnmountShm",
      payload: { containerId: ownerId },
      timeoutMs: deps.hostCommandTimeoutMs,
    });
    deps.metrics.count("unmount", "ok");
    await groupCommand(deps, ownerId, `v${group.version}`, { type: "ReleaseShmMount", data: { ownerLive: false, now: deps.now() } });
  } catch (err) {
    deps.metrics.count("unmount", "failed");
    log.warn({ err, host: g.host, path: g.shmMountPath }, "could not remove the owner's leftover shm mount; the new run supersedes it");
  }
  return true;
}

function ownerViewOf(ownerId: string, state: ContainerState): IpcOwnerView | undefined {
  if (state.status === "absent" || state.status === "removed") return undefined;
  if (state.status === "running" || state.status === "paused") {
    return { containerId: ownerId, running: true, pid: state.process.pid, host: state.host, plan: state.ipcPlan };
  }
  return { containerId: ownerId, running: false };
}

type PreparationRecorded =
  | { result: "prepared" | "duplicate" }
  /** The group decider refused (a member's owner has no mount any more). */
  | { result: "group-refused" | "moved-on"; message: string };

/**
 * The group's events (if any) and ContainerIpcPrepared in ONE statement
 * (`appendToStreams`): all or nothing, published in that order right after, so an owner's
 * mount is never ordered without its plan, nor a plan recorded without its mount's order.
 * The first attempt decides on the streams as `prepare` read them (`known`): a stream that
 * moved since is ABORTED by its version check, and the next attempt reads both in one query.
 */
async function recordPreparation(
  deps: FlowDeps,
  p: {
    containerId: string;
    preparedId: string;
    plan: IpcPlan;
    causeId: string;
    group: { ownerId: string; command: IpcGroupCommand; known: GroupView | undefined } | undefined;
    known: { state: ContainerState; version: number };
  },
): Promise<PreparationRecorded> {
  const containerStream = containerStreamId(p.containerId);
  const groupStream = p.group === undefined ? undefined : ipcGroupStreamId(p.group.ownerId);
  const metadata = { causationId: p.causeId, actor: "mount-manager" };
  let container = p.known;
  let group = p.group?.known;
  for (let attempt = 0; ; attempt++) {
    let stage: "group" | "container" = "group";
    try {
      if (attempt > 0 || (groupStream !== undefined && group === undefined)) {
        const read = await deps.store.readStreams([{ streamId: containerStream }, ...(groupStream ? [{ streamId: groupStream }] : [])]);
        container = foldStream(containerDecider, read.get(containerStream) ?? []);
        if (groupStream !== undefined) group = foldStream(ipcGroupDecider, read.get(groupStream) ?? []);
      }
      const appends: Parameters<FlowDeps["store"]["appendToStreams"]>[0][number][] = [];
      if (p.group !== undefined) {
        const ownerId = p.group.ownerId;
        const events = ipcGroupDecider.decide(p.group.command, group!.state);
        if (events.length > 0) {
          appends.push({
            streamId: groupStream!,
            expectedVersion: group!.version === 0 ? "no-stream" : group!.version,
            events: events.map((e) => ({
              eventId: derivedEventId(`${e.type}:${ownerId}:${p.causeId}`),
              type: e.type,
              schemaVersion: IPC_GROUP_EVENT_SCHEMA_VERSIONS[e.type],
              data: e.data,
              metadata,
            })),
          });
        }
      }
      stage = "container";
      const events = containerDecider.decide({ type: "RecordIpcPrepared", data: { containerId: p.containerId, now: deps.now(), plan: p.plan } }, container.state);
      if (events.length > 0) {
        appends.push({
          streamId: containerStream,
          expectedVersion: container.version === 0 ? "no-stream" : container.version,
          events: events.map((e: ContainerEvent, i) => ({
            eventId: i === 0 ? p.preparedId : derivedEventId(`${p.preparedId}:${i}`),
            type: e.type,
            schemaVersion: CONTAINER_EVENT_SCHEMA_VERSIONS[e.type],
            data: e.data,
            metadata,
          })),
        });
      }
      if (appends.length > 0) await deps.store.appendToStreams(appends);
      return { result: "prepared" };
    } catch (err) {
      if (err instanceof AbortedError && attempt < 3) continue;
      if (err instanceof AlreadyExistsError) return { result: "duplicate" };
      if (err instanceof FailedPreconditionError) {
        return { result: stage === "group" ? "group-refused" : "moved-on", message: err.message };
      }
      // Removed meanwhile: the container decider knows it no more.
      if (err instanceof NotFoundError && stage === "container") return { result: "moved-on", message: err.message };
      throw err;
    }
  }
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
