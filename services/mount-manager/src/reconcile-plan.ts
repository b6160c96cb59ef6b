/**
 * Reconciliation of shm mounts: what the log says is mounted against what each host's
 * agent reports. Pure: a read-only snapshot in, a plan in named buckets out; the
 * executor (`reconciler.ts`) applies it, re-checking each group under its lock.
 *
 * The agent's `ListContainers` reports containers (id, status, live, IPC mode) but not
 * mounts, so mounts are judged by whether a container that uses them is live. If an
 * agent also reports `shmMounts` (owner ids with a mounted shm), mounts the log does not
 * know as mounted and no live container owns are planned for unmounting too (`orphans`).
 */

/** An shm mount the log says is mounted. */
export interface LoggedShmMount {
  ownerId: string;
  host: string;
  path: string;
  /** Members the log says hold the mount. */
  members: string[];
}

/** One container as a host's agent reports it. */
export interface ReportedContainer {
  containerId: string;
  /** The agent's record status: `starting`, `running`, `exited`. */
  status: string;
  /** True while the agent watches the container's task. */
  live: boolean;
}

/** What one host's agent answered. */
export interface HostListing {
  containers: ReportedContainer[];
  /** Owner ids whose shm tmpfs is mounted on the host, when the agent reports mounts; undefined when it does not. */
  shmMounts?: string[];
}

export interface ReconcileSnapshot {
  mounts: LoggedShmMount[];
  /** Per host: its listing, or undefined when the agent did not answer. Every host of `mounts` should be a key. */
  hosts: ReadonlyMap<string, HostListing | undefined>;
  /** Containers whose start the log shows in progress (accepted, not yet running or failed): their mounts are never touched. */
  startsInProgress: ReadonlySet<string>;
}

export interface ReconcilePlan {
  /** Mounted, and the owner or a member is live on the host or starting. */
  keep: LoggedShmMount[];
  /** Mounted per the log, but nobody that uses it is live or starting: release it. */
  unmount: LoggedShmMount[];
  /** Mounted per the log on a host that did not answer: nothing can be decided now. */
  lost: LoggedShmMount[];
  /** Mounted on a host (per its agent) with no mount in the log and no live owner: unmount on the host only. */
  orphans: { host: string; ownerId: string }[];
}

/** A container uses a mount while the agent watches it or its record says starting/running. */
function isLiveOnHost(c: ReportedContainer): boolean {
  return c.live || c.status === "starting" || c.status === "running";
}

export function planReconcile(snapshot: ReconcileSnapshot): ReconcilePlan {
  const plan: ReconcilePlan = { keep: [], unmount: [], lost: [], orphans: [] };
  const liveByHost = new Map<string, Set<string>>();
  for (const [host, listing] of snapshot.hosts) {
    if (listing !== undefined) liveByHost.set(host, new Set(listing.containers.filter(isLiveOnHost).map((c) => c.containerId)));
  }
  const logged = new Set<string>();
  for (const mount of snapshot.mounts) {
    logged.add(`${mount.host}\u0000${mount.ownerId}`);
    const users = [mount.ownerId, ...mount.members];
    if (users.some((id) => snapshot.startsInProgress.has(id))) {
      plan.keep.push(mount);
      continue;
    }
    const live = liveByHost.get(mount.host);
    if (live === undefined) {
      plan.lost.push(mount);
      continue;
    }
    if (users.some((id) => live.has(id))) plan.keep.push(mount);
    else plan.unmount.push(mount);
  }
  for (const [host, listing] of snapshot.hosts) {
    if (listing?.shmMounts === undefined) continue;
    const live = liveByHost.get(host)!;
    for (const ownerId of new Set(listing.shmMounts)) {
      if (logged.has(`${host}\u0000${ownerId}`) || live.has(ownerId) || snapshot.startsInProgress.has(ownerId)) continue;
      plan.orphans.push({ host, ownerId });
    }
  }
  return plan;
}
