import type { MountInfoEntry } from "@shoal/host-os";
import type { ContainerRecord } from "./container-store";
import { containerPaths } from "./container-store";

/** A containerd task of this host, as Tasks.List showed it at agent start. */
export interface ObservedTask {
  readonly containerId: string;
  readonly status: string;
  readonly pid: number;
  readonly exit?: { readonly exitStatus: number; readonly exitedAt: Date };
}

export interface RecoveryInput {
  readonly stateRoot: string;
  readonly records: readonly ContainerRecord[];
  readonly tasks: readonly ObservedTask[];
  /** containerd containers labelled with this host. */
  readonly containers: readonly string[];
  /** The mount table (any; only entries under the state root's `containers/` count). */
  readonly mounts: readonly MountInfoEntry[];
  /** Containers the control plane says should exist here (Reconcile); their shm mounts are kept. */
  readonly expected?: readonly string[];
  /**
   * `startup` (default): the agent has just started, so a `starting` record is a start it
   * died in. `running`: a start may be in progress right now, so `starting` records (and
   * the shm they use) are left alone.
   */
  readonly phase?: "startup" | "running";
  /** Containers the agent already watches (running phase): never reported or deleted here. */
  readonly watched?: readonly string[];
}

export interface ExitToReport {
  readonly containerId: string;
  readonly pid: number;
  readonly exitCode: number;
  readonly exitedAt: Date;
}

/** What to do, in named buckets (STYLE habit 3). Pure data; `applyRecovery` acts on it. */
export interface RecoveryPlan {
  /** Running/paused tasks with a record: watched again, never restarted. */
  adopt: string[];
  /** Stopped tasks whose exit was not reported yet: report once, then delete task and container. */
  reportExit: ExitToReport[];
  /** Stopped tasks whose exit was reported already (the agent died before deleting them): delete only. */
  deleteStopped: string[];
  /** Records left `starting` (the agent died mid-start): undo everything that start set up. */
  abandonedStarts: string[];
  /** Records said running, but containerd has no task: the exit was missed; report it (exit code 255). */
  lost: ExitToReport[];
  /** containerd containers of this host with neither task nor live record: delete. */
  orphanContainers: string[];
  /** Tasks with no record (another agent's, or made by hand): left alone. */
  foreign: string[];
  /** Mount points to unmount, one entry per stacked mount to remove (deepest first). */
  unmount: string[];
  /** Mount points kept because a live or expected container uses them. */
  keepMounts: string[];
}

const LIVE = new Set(["running", "paused", "pausing", "created"]);

/**
 * Decides the agent's start-up reconcile. Pure. Rules:
 * - a task whose record is `starting` is an abandoned start and is undone, running or not;
 * - a live task with a `running`/`exited` record is adopted;
 * - a stopped task is reported once (its record's `exit.reported` for the same pid says
 *   whether it was) and then deleted; an exited record without a task whose exit was
 *   never acknowledged is reported too;
 * - shm mounts (`containers/<id>/mounts/shm`) are kept while an adopted container or an
 *   expected one uses them (an owner its own, a member its owner's); overlay `rootfs/merged`
 *   mounts only while their container is adopted; every other stacked copy of a kept
 *   mount point is unmounted, so a mount is never duplicated.
 */
export function planRecovery(input: RecoveryInput): RecoveryPlan {
  const plan: RecoveryPlan = {
    adopt: [],
    reportExit: [],
    deleteStopped: [],
    abandonedStarts: [],
    lost: [],
    orphanContainers: [],
    foreign: [],
    unmount: [],
    keepMounts: [],
  };
  const running = input.phase === "running";
  const watched = new Set(input.watched ?? []);
  const records = new Map(input.records.map((r) => [r.containerId, r]));
  const tasks = new Map(input.tasks.map((t) => [t.containerId, t]));
  const inFlight = running ? input.records.filter((r) => r.status === "starting").map((r) => r.containerId) : [];

  for (const t of input.tasks) {
    const r = records.get(t.containerId);
    if (r === undefined) {
      plan.foreign.push(t.containerId);
    } else if (r.status === "starting") {
      // handled with the records below
    } else if (LIVE.has(t.status) || watched.has(t.containerId)) {
      plan.adopt.push(t.containerId);
    } else {
      const alreadyReported = r.exit?.reported === true && r.exit.pid === t.pid;
      if (alreadyReported) plan.deleteStopped.push(t.containerId);
      else
        plan.reportExit.push({
          containerId: t.containerId,
          pid: t.pid,
          exitCode: t.exit?.exitStatus ?? 255,
          exitedAt: t.exit?.exitedAt ?? new Date(0),
        });
    }
  }
  for (const r of input.records) {
    if (r.status === "starting") {
      if (!running) plan.abandonedStarts.push(r.containerId);
    }
    else if (r.status === "exited" && r.exit !== undefined && !r.exit.reported && !tasks.has(r.containerId)) {
      // The agent died after cleaning up and before the report was acknowledged.
      plan.reportExit.push({ containerId: r.containerId, pid: r.exit.pid, exitCode: r.exit.exitCode, exitedAt: new Date(r.exit.exitedAt) });
    }
    else if (r.status === "running" && !tasks.has(r.containerId)) {
      plan.lost.push({ containerId: r.containerId, pid: r.pid ?? 0, exitCode: 255, exitedAt: new Date(0) });
    }
  }
  const handled = new Set([
    ...plan.adopt,
    ...plan.abandonedStarts,
    ...inFlight,
    ...plan.reportExit.map((e) => e.containerId),
    ...plan.deleteStopped,
  ]);
  for (const id of input.containers) {
    if (!handled.has(id) && !tasks.has(id)) plan.orphanContainers.push(id);
  }

  // Mounts.
  const needed = new Set<string>();
  for (const id of plan.adopt) {
    const r = records.get(id)!;
    const p = containerPaths(input.stateRoot, id);
    needed.add(p.rootfs + "/merged");
    if (r.ipcPlan.mode === "shareable" || r.ipcPlan.mode === "container") needed.add(r.ipcPlan.shmMountPath);
  }
  for (const id of input.expected ?? []) needed.add(containerPaths(input.stateRoot, id).shm);
  for (const id of inFlight) {
    const plan = records.get(id)!.ipcPlan;
    needed.add(containerPaths(input.stateRoot, id).shm);
    if (plan.mode === "shareable" || plan.mode === "container") needed.add(plan.shmMountPath);
  }

  const prefix = `${input.stateRoot}/containers/`;
  const counts = new Map<string, number>();
  for (const m of input.mounts) {
    if (!m.mountPoint.startsWith(prefix)) continue;
    const rest = m.mountPoint.slice(prefix.length).split("/");
    const ours = rest.length === 3 && ((rest[1] === "mounts" && rest[2] === "shm") || (rest[1] === "rootfs" && rest[2] === "merged"));
    if (!ours) continue;
    counts.set(m.mountPoint, (counts.get(m.mountPoint) ?? 0) + 1);
  }
  for (const [point, n] of [...counts].sort((a, b) => b[0].length - a[0].length || a[0].localeCompare(b[0]))) {
    const keep = needed.has(point) ? 1 : 0;
    if (keep === 1) plan.keepMounts.push(point);
    for (let i = keep; i < n; i++) plan.unmount.push(point);
  }
  return plan;
}
