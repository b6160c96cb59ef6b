import { basename, dirname } from "node:path";
import { isShoalError } from "@shoal/domain";
import type { CommandPayload } from "@shoal/host-protocol";
import { HOST_LABEL, runsHere } from "./agent-context";
import type { AgentContext } from "./agent-context";
import { ignoreNotFound, removeContainerFiles, stopAndDelete } from "./container-removal";
import { finishExit, watchExit } from "./exits";
import { mountsAt } from "./host-mounts";
import { planRecovery } from "./recovery-plan";
import { planFence } from "./fence-plan";
import { deleteContainer } from "./container-operations";
import { unmountOwnerShm } from "./shm-mounts";
import type { ContainerRecord } from "./container-store";
import type { RecoveryPlan } from "./recovery-plan";

// The reconcile loop (README): a snapshot, planRecovery's buckets (pure, recovery-plan.ts),
// and the actions that apply them. Run at start-up and by the Reconcile command.

/**
 * The Reconcile command: with `fence`, first kills and deletes every copy the log does not
 * place here (fence-plan.ts); then a reconcile in phase `running`. Answered with bucket
 * counts, what was fenced, what runs (with pids, for the control plane to adopt), is
 * missing and is unexpected.
 */
export async function reconcileCommand(ctx: AgentContext, p: CommandPayload<"Reconcile">): Promise<unknown> {
  const fenced = p.fence === true ? await fence(ctx, p.expected) : [];
  const plan = await reconcile(
    ctx,
    p.expected.map((e) => e.containerId),
    "running",
  );
  const expected = new Set(p.expected.map((e) => e.containerId));
  const { records } = await ctx.store.list();
  const present = new Set(records.map((r) => r.containerId));
  const processes = [...ctx.live].filter(([id]) => runsHere(ctx, id)).map(([containerId, l]) => ({ containerId, pid: l.task.pid }));
  return {
    ...summary(plan),
    fenced,
    running: [...ctx.live.keys()],
    processes,
    missing: [...expected].filter((id) => !present.has(id)),
    unexpected: [...ctx.live.keys()].filter((id) => !expected.has(id)),
  };
}

/**
 * Kills and deletes the copies planFence says must not run here, members before owners so
 * an owner's shm mount is free to go with it. Returns their ids. A copy that cannot be
 * deleted rejects the command (the control plane retries the Reconcile): adopting anything
 * while it may still run would let it run twice.
 */
async function fence(ctx: AgentContext, expected: CommandPayload<"Reconcile">["expected"]): Promise<string[]> {
  const { records } = await ctx.store.list();
  const plan = planFence({
    local: records.map((r) => ({ containerId: r.containerId, running: runsHere(ctx, r.containerId), ...(r.epoch !== undefined ? { epoch: r.epoch } : {}) })),
    expected,
    starting: [...ctx.starting],
  });
  if (plan.kill.length === 0) return [];
  const byId = new Map(records.map((r) => [r.containerId, r]));
  const order = [...plan.kill].sort((a, b) => rank(byId.get(a)) - rank(byId.get(b)));
  for (const id of order) {
    ctx.log.warn({ containerId: id, epoch: byId.get(id)?.epoch }, "fencing: the log places this container elsewhere; killing this copy");
    await deleteContainer(ctx, { containerId: id, force: true });
    if (byId.get(id)?.ipcPlan.mode === "shareable") await unmountOwnerShm(ctx, { containerId: id });
  }
  return order;
}

/** Members (and containers without a shm of their own) first, owners last. */
function rank(r: ContainerRecord | undefined): number {
  return r?.ipcPlan.mode === "shareable" ? 1 : 0;
}

/**
 * Takes a snapshot (records, containerd tasks and containers, mount table), plans with
 * planRecovery and applies the plan. A mount still in use (EBUSY) is logged and left.
 * In phase `running`, starts in progress count as expected, and containers already watched are
 * never reported or deleted.
 */
export async function reconcile(ctx: AgentContext, expected: readonly string[], phase: "startup" | "running"): Promise<RecoveryPlan> {
  const { records, broken } = await ctx.store.list();
  if (broken.length > 0) ctx.log.error({ broken }, "unreadable container records; their containers are left alone");
  const loaded = await ctx.containerd.listTasks();
  const containers = await ctx.containerd.listContainers([`labels."${HOST_LABEL}"==${ctx.host}`]);
  const mine = new Set(containers.map((c) => c.id));
  const tasks = loaded.filter((t) => mine.has(t.task.containerId) || records.some((r) => r.containerId === t.task.containerId));
  const plan = planRecovery({
    stateRoot: ctx.stateRoot,
    records,
    tasks: tasks.map((t) => ({
      containerId: t.task.containerId,
      status: t.state.status,
      pid: t.state.pid,
      ...(t.state.exit ? { exit: t.state.exit } : {}),
    })),
    containers: [...mine],
    mounts: await ctx.os.readMountInfo(),
    expected: phase === "running" ? [...expected, ...ctx.starting] : expected,
    phase,
    watched: [...ctx.live.keys()],
  });
  const taskOf = new Map(tasks.map((t) => [t.task.containerId, t.task]));
  const containerOf = new Map(containers.map((c) => [c.id, c]));

  for (const id of plan.adopt) {
    if (ctx.live.has(id)) continue;
    const container = containerOf.get(id);
    const status = tasks.find((t) => t.task.containerId === id)?.state.status;
    watchExit(ctx, id, taskOf.get(id)!, container, status === "paused" || status === "pausing");
    const record = records.find((r) => r.containerId === id)!;
    if (record.status !== "running") {
      record.status = "running";
      await ctx.store.put(record);
    }
  }
  for (const exit of [...plan.reportExit, ...plan.lost]) {
    await ctx.locks.run(exit.containerId, () => finishExit(ctx, exit.containerId, exit, true));
  }
  for (const id of plan.deleteStopped) {
    await ctx.locks.run(id, () => finishExit(ctx, id, { containerId: id, pid: taskOf.get(id)!.pid, exitCode: 0, exitedAt: new Date(0) }, true));
  }
  for (const id of plan.abandonedStarts) {
    const undo = () =>
      ctx.locks.run(id, async () => {
        const task = taskOf.get(id);
        if (task !== undefined && !(await stopAndDelete(task, ABANDONED_KILL_WAIT_MS))) return false;
        await (containerOf.get(id)?.delete() ?? Promise.resolve()).catch(ignoreNotFound);
        await removeContainerFiles(ctx, id);
        return true;
      });
    if (await undo()) continue;
    // A task mid-restore has no process to kill until CRIU is done: it is undone once it has
    // one, without holding up the agent's start (nothing else waits on this container).
    ctx.log.warn({ containerId: id }, "abandoned start's task did not stop (a restore in progress?); undoing it in the background");
    void retryUntil(() => (ctx.stopping ? Promise.resolve(true) : undo()), ABANDONED_RETRY_MS, ABANDONED_RETRY_FOR_MS).then((done) => {
      if (!done) ctx.log.error({ containerId: id }, "abandoned start's task would not stop; left for the next reconcile");
    });
  }
  for (const id of plan.orphanContainers) {
    await containerOf.get(id)?.delete().catch(ignoreNotFound);
  }
  for (const point of plan.unmount) {
    try {
      await ctx.os.unmount(point);
      if (mountsAt(await ctx.os.readMountInfo(), point).length === 0) {
        // Empty directories only: rmdir refuses anything else. The container's own dir goes when it has no record.
        const containerDir = dirname(dirname(point));
        await ctx.os.rmdir(point).catch(() => undefined);
        await ctx.os.rmdir(dirname(point)).catch(() => undefined);
        if ((await ctx.store.get(basename(containerDir)).catch(() => "unreadable")) === undefined) {
          await ctx.os.rmdir(containerDir).catch(() => undefined);
        }
      }
    } catch (err) {
      if (isShoalError(err) && err.code === "FAILED_PRECONDITION") ctx.log.warn({ err, mountPoint: point }, "mount in use; left mounted");
      else if (!(isShoalError(err) && err.code === "NOT_FOUND")) throw err;
    }
  }
  if (plan.foreign.length > 0) ctx.log.info({ foreign: plan.foreign }, "tasks without a record left alone");
  ctx.log.info(summary(plan), "reconciled");
  return plan;
}

/** Bucket name → how many containers or mount points it holds. */
function summary(plan: RecoveryPlan): Record<string, number> {
  return Object.fromEntries(Object.entries(plan).map(([k, v]) => [k, (v as unknown[]).length]));
}

/** How long an abandoned start's task may take to die after SIGKILL before it is retried later. */
const ABANDONED_KILL_WAIT_MS = 5_000;
const ABANDONED_RETRY_MS = 2_000;
const ABANDONED_RETRY_FOR_MS = 10 * 60_000;

/** Calls `attempt` every `everyMs` until it returns true or `forMs` has passed; whether it succeeded. */
async function retryUntil(attempt: () => Promise<boolean>, everyMs: number, forMs: number): Promise<boolean> {
  const until = Date.now() + forMs;
  while (Date.now() < until) {
    // Unref'd: a pending retry never keeps a stopping agent's process alive.
    await new Promise((resolve) => setTimeout(resolve, everyMs).unref());
    if (await attempt().catch(() => false)) return true;
  }
  return false;
}
