/**
 * Executes reconciliation: snapshot (the projection's mounted shm mounts, joined members
 * and starts in progress; each mount host's `ListContainers`), `planReconcile`, then per
 * bucket:
 *   keep     nothing
 *   lost     nothing (the host did not answer); counted and logged
 *   unmount  under the owner's lock: members whose container stream shows them not live
 *            leave (reason `reconcile`), then the normal release (tryReleaseShm), which
 *            re-checks the log and unmounts only if nobody is live
 *   orphans  under the owner's lock, if the log still has no mount there: UnmountShm
 */
import { sendHostCommand } from "@shoal/bus";
import { groupCommand } from "./group-command";
import { isLive, readContainer, readGroup } from "./log-views";
import { planReconcile } from "./reconcile-plan";
import type { HostListing, LoggedShmMount, ReconcilePlan, ReportedContainer } from "./reconcile-plan";
import { tryReleaseShm } from "./release-shm";
import type { FlowDeps } from "./flow-deps";

export interface ReconcileResult {
  plan: ReconcilePlan;
  /** Owners whose mount was unmounted and recorded as removed. */
  released: string[];
  /** Orphan mounts unmounted on their host. */
  orphansUnmounted: number;
}

export async function reconcileOnce(deps: FlowDeps): Promise<ReconcileResult> {
  await deps.projection.catchUp();
  const mountRows = await deps.db
    .selectFrom("shm_mounts")
    .select(["owner_id", "host", "path"])
    .where("state", "=", "mounted")
    .orderBy("owner_id")
    .execute();
  const memberRows = await deps.db
    .selectFrom("ipc_group_members")
    .select(["owner_id", "member_id"])
    .where("joined", "=", true)
    .orderBy("member_id")
    .execute();
  const startingRows = await deps.db
    .selectFrom("mount_manager_containers")
    .select("container_id")
    .where("status", "in", ["starting", "scheduled", "ipc-prepared"])
    .execute();

  const mounts: LoggedShmMount[] = mountRows.map((r) => ({
    ownerId: r.owner_id,
    host: r.host,
    path: r.path,
    members: memberRows.filter((m) => m.owner_id === r.owner_id).map((m) => m.member_id),
  }));
  const hosts = new Map<string, HostListing | undefined>();
  for (const host of new Set(mounts.map((m) => m.host))) hosts.set(host, await listHost(deps, host));

  const plan = planReconcile({ mounts, hosts, startsInProgress: new Set(startingRows.map((r) => r.container_id)) });
  const released: string[] = [];
  let orphansUnmounted = 0;

  for (const mount of plan.unmount) {
    try {
      const outcome = await deps.locks.run(mount.ownerId, async () => {
        const group = await readGroup(deps.store, mount.ownerId);
        for (const memberId of mount.members) {
          if (isLive((await readContainer(deps.store, memberId)).state)) continue;
          await groupCommand(deps, mount.ownerId, `reconcile:${memberId}:v${group.version}`, {
            type: "LeaveIpcGroup",
            data: { memberId, reason: "reconcile", now: deps.now() },
          });
        }
        return tryReleaseShm(deps, mount.ownerId);
      });
      if (outcome === "released") released.push(mount.ownerId);
    } catch (err) {
      deps.log.warn({ err, ownerId: mount.ownerId, host: mount.host }, "reconcile could not release an shm mount");
    }
  }
  for (const orphan of plan.orphans) {
    try {
      await deps.locks.run(orphan.ownerId, async () => {
        const group = await readGroup(deps.store, orphan.ownerId);
        if (group.state.status === "formed" && group.state.shmMounted && group.state.host === orphan.host) return;
        await sendHostCommand(deps.nc, {
          prefix: deps.prefix,
          host: orphan.host,
          command: "UnmountShm",
          payload: { containerId: orphan.ownerId },
          timeoutMs: deps.hostCommandTimeoutMs,
        });
        orphansUnmounted += 1;
        deps.metrics.count("unmount", "ok");
      });
    } catch (err) {
      deps.metrics.count("unmount", "failed");
      deps.log.warn({ err, ownerId: orphan.ownerId, host: orphan.host }, "reconcile could not unmount an orphan shm mount");
    }
  }

  deps.metrics.count("reconcile", "ok");
  deps.log.info(
    {
      keep: plan.keep.length,
      unmount: plan.unmount.length,
      lost: plan.lost.length,
      orphans: plan.orphans.length,
      released: released.length,
      orphansUnmounted,
    },
    "shm mounts reconciled",
  );
  return { plan, released, orphansUnmounted };
}

/** The host's containers (and shm mounts, if its agent reports them), or undefined when it does not answer. */
async function listHost(deps: FlowDeps, host: string): Promise<HostListing | undefined> {
  try {
    const result = await sendHostCommand<{ containers?: unknown; shmMounts?: unknown }>(deps.nc, {
      prefix: deps.prefix,
      host,
      command: "ListContainers",
      payload: {},
      timeoutMs: deps.hostCommandTimeoutMs,
    });
    const containers: ReportedContainer[] = Array.isArray(result?.containers)
      ? result.containers.flatMap((c: Record<string, unknown>) =>
          typeof c?.containerId === "string"
            ? [{ containerId: c.containerId, status: String(c.status ?? ""), live: c.live === true }]
            : [],
        )
      : [];
    const listing: HostListing = { containers };
    if (Array.isArray(result?.shmMounts)) listing.shmMounts = result.shmMounts.filter((x): x is string => typeof x === "string");
    return listing;
  } catch (err) {
    deps.log.warn({ err, host }, "host did not answer ListContainers; its mounts are left as they are");
    return undefined;
  }
}
