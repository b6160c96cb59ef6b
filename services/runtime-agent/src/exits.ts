import type { Container, Task } from "@shoal/containerd";
import { isShoalError } from "@shoal/domain";
import { REPORT_TYPES, reportIds } from "@shoal/host-protocol";
import type { ContainerExitedPayload } from "@shoal/host-protocol";
import { publishReport } from "./agent-context";
import type { AgentContext, LiveContainer } from "./agent-context";
import type { ContainerRecord } from "./container-store";
import type { ExitToReport } from "./recovery-plan";

// A task's end: the exit watcher, the cleanup after an exit, and the ContainerExited and
// ContainerOom reports.

/**
 * Watches a started or adopted task and makes it live: its exit is recorded, reported once,
 * and the task and container deleted (finishExit). The caller holds the container's lock or
 * is the reconcile adopting it; a container already live must not be watched again.
 */
export function watchExit(ctx: AgentContext, id: string, task: Task, container?: Container, paused = false): void {
  const entry: LiveContainer = { task, exited: false, paused, startedReport: Promise.resolve(), exitDone: Promise.resolve() };
  if (container !== undefined) entry.container = container;
  entry.exitDone = task.wait().then(
    (exit) => {
      entry.exited = true;
      return finishExit(ctx, id, {
        containerId: id,
        pid: task.pid,
        exitCode: exit.exitStatus,
        exitedAt: exit.exitedAt,
      }, false);
    },
    (err: unknown) => {
      if (!ctx.stopping) ctx.log.error({ err, containerId: id }, "lost track of a task's exit");
    },
  );
  ctx.live.set(id, entry);
}

/**
 * Records the exit in agent.json, deletes task and container (Tasks.Delete also waits
 * for the shim to finish copying output, so the log is complete), then reports the exit
 * unless it was already. A crash anywhere in between is finished by the next start's
 * reconcile: the record says what is left to do. Does nothing once the agent is stopping.
 */
export async function finishExit(ctx: AgentContext, id: string, exit: ExitToReport, foundAtRecovery: boolean): Promise<void> {
  if (ctx.stopping) return;
  const record = await ctx.store.get(id);
  if (record !== undefined && !(record.exit?.pid === exit.pid && record.status === "exited")) {
    record.status = "exited";
    record.exit = { exitCode: exit.exitCode, exitedAt: exit.exitedAt.toISOString(), pid: exit.pid, reported: false };
    await ctx.store.put(record);
  }
  const live = ctx.live.get(id);
  const needsCleanup = record?.exit?.cleanedUp !== true;
  // Tasks.Delete first: it returns once the shim has flushed the output, so the log is complete before the report.
  const taskGone = needsCleanup
    ? await deleteAfterExit(ctx, id, "task", async () => (live?.task ?? (await ctx.containerd.loadTask(id))).delete())
    : true;
  const reportNeeded = record !== undefined && !record.exit!.reported;
  if (reportNeeded) ctx.unreported.add(id);
  const [containerGone, reported] = await Promise.all([
    // After Tasks.Delete: a container deleted while its task runs orphans the task.
    needsCleanup
      ? deleteAfterExit(ctx, id, "container", async () => (live?.container ?? (await ctx.containerd.loadContainer(id))).delete())
      : Promise.resolve(true),
    reportNeeded
      ? (live?.startedReport ?? Promise.resolve())
          // Read after the task's deletion: an OOM event that came with the exit has set it by then.
          .then(() => live?.oomReport)
          .then(() => publishExit(ctx, record, foundAtRecovery))
      : Promise.resolve(false),
  ]);
  if (record?.exit !== undefined) {
    // DeleteContainer needs no containerd lookups once cleanedUp is recorded.
    const cleanedUp = taskGone && containerGone && record.exit.cleanedUp !== true;
    if (cleanedUp) record.exit.cleanedUp = true;
    if (reported) {
      record.exit.reported = true;
      ctx.unreported.delete(id);
    }
    if (cleanedUp || reported) await ctx.store.put(record);
  }
  ctx.live.delete(id);
}

/**
 * Deletes the task (Tasks.Delete) or the container (Containers.Delete) of an exit; true when
 * it is gone, also when it already was; false (logged) when the delete failed otherwise.
 */
async function deleteAfterExit(ctx: AgentContext, id: string, what: "task" | "container", remove: () => Promise<unknown>): Promise<boolean> {
  try {
    await remove();
  } catch (err) {
    if (!(isShoalError(err) && err.code === "NOT_FOUND")) {
      ctx.log.warn({ err, containerId: id }, `could not delete exited ${what}`);
      return false;
    }
  }
  return true;
}

/** Publishes ContainerExited; false (logged, retried on the next heartbeat) when JetStream does not acknowledge. */
async function publishExit(ctx: AgentContext, record: ContainerRecord, foundAtRecovery: boolean): Promise<boolean> {
  const exit = record.exit!;
  const payload: ContainerExitedPayload = {
    containerId: record.containerId,
    pid: exit.pid,
    exitCode: exit.exitCode,
    exitedAt: exit.exitedAt,
    foundAtRecovery,
  };
  try {
    await publishReport(ctx, REPORT_TYPES.containerExited, reportIds.containerExited(record.containerId, exit.pid, record.startedAt), payload);
    return true;
  } catch (err) {
    ctx.log.warn({ err, containerId: record.containerId }, "ContainerExited not acknowledged; retrying with the next heartbeat");
    return false;
  }
}

/** Publishes again each exit JetStream has not acknowledged yet; called on every heartbeat. Never rejects for a publish. */
export async function retryUnreportedExits(ctx: AgentContext): Promise<void> {
  for (const id of [...ctx.unreported]) {
    const record = await ctx.store.get(id).catch(() => undefined);
    if (record?.exit === undefined || record.exit.reported) ctx.unreported.delete(id);
    else if (await publishExit(ctx, record, false)) {
      record.exit.reported = true;
      await ctx.store.put(record);
      ctx.unreported.delete(id);
    }
  }
}

/** Reports containerd's `/tasks/oom` for one of this host's containers; others are ignored. Never rejects for a publish. */
export async function reportOom(ctx: AgentContext, id: string, at: Date): Promise<void> {
  // An OOM can come while the start that caused it still holds the container's lock:
  // wait for it, so the container is known (or known not to be ours).
  if (!ctx.live.has(id)) await ctx.locks.run(id, async () => undefined);
  // An OOM that killed the init process may arrive after its exit was handled: the record still names it.
  const live = ctx.live.get(id);
  const pid = live?.task.pid ?? (await ctx.store.get(id).catch(() => undefined))?.pid;
  if (pid === undefined) return;
  const published = publishReport(ctx, REPORT_TYPES.containerOom, reportIds.containerOom(id, pid, at.getTime()), {
    containerId: id,
    pid,
    at: at.toISOString(),
  }).catch((err: unknown) => ctx.log.warn({ err, containerId: id }, "could not report ContainerOom"));
  if (live !== undefined) live.oomReport = published;
  await published;
}
