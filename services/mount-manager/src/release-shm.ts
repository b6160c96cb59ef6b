/**
 * The release step: when a container's process or start ends (ContainerExited,
 * ContainerStartFailed, ContainerDied) or it is removed (ContainerRemoved), a member
 * leaves its group, and an owner's shm mount is unmounted once nobody uses it:
 *
 *   under the owner's lock:
 *     group mounted? no member left? owner not live (per its container stream)?
 *     → UnmountShm on the group's host → ShmMountRemoved
 *
 * Never before: a live member or a live (or starting) owner keeps the mount. On a lost host
 * the mount is released in the log without a host command (the host unmounts it when it
 * returns and is fenced), so a group whose restart policy moves it elsewhere can form again. The
 * ShmMountRemoved id is derived from the group stream's version, so two deciders of the
 * same release (a redelivery, the reconciler) append it once; UnmountShm is idempotent.
 */
import { sendHostCommand } from "@shoal/bus";
import type { EventEnvelope } from "@shoal/bus";
import type { ContainerExited } from "@shoal/domain";
import { groupCommand } from "./group-command";
import { hostIsLost, isLive, readContainer, readGroup } from "./log-views";
import type { FlowDeps } from "./flow-deps";

/** Container events after which something may be released. */
export const RELEASE_TRIGGERS: ReadonlySet<string> = new Set([
  "ContainerExited",
  "ContainerStartFailed",
  "ContainerRemoved",
  "ContainerDied",
  // A restart planned after an exit or a lost host: the container no longer holds its place
  // in the group; it joins the owner's new run (on whatever host that is) when it starts.
  "ContainerRestartPlanned",
]);

export async function releaseAfter(deps: FlowDeps, event: EventEnvelope): Promise<void> {
  if (!RELEASE_TRIGGERS.has(event.type)) return;
  const containerId = (event.data as ContainerExited["data"]).containerId;

  // Groups it may hold: the one its latest plan joined, and any the projection has it joined to
  // (a join whose ContainerIpcPrepared never got recorded, e.g. a removal overtook it).
  const view = await readContainer(deps.store, containerId);
  const owners = new Set<string>();
  const lastPlan = view.recorded.findLast((r) => r.type === "ContainerIpcPrepared")?.data as
    | { plan?: { mode: string; ownerId?: string } }
    | undefined;
  if (lastPlan?.plan?.mode === "container" && lastPlan.plan.ownerId) owners.add(lastPlan.plan.ownerId);
  await deps.projection.catchUp();
  const rows = await deps.db
    .selectFrom("ipc_group_members")
    .select("owner_id")
    .where("member_id", "=", containerId)
    .where("joined", "=", true)
    .execute();
  for (const r of rows) owners.add(r.owner_id);

  for (const ownerId of owners) {
    await deps.locks.run(ownerId, async () => {
      // A redelivered old exit must not remove a member that has started again since.
      const member = await readContainer(deps.store, containerId);
      if (isLive(member.state)) return;
      await groupCommand(deps, ownerId, event.eventId, {
        type: "LeaveIpcGroup",
        data: { memberId: containerId, reason: event.type, now: deps.now() },
      });
      deps.metrics.count("leave", "ok");
      await tryReleaseShm(deps, ownerId);
    });
  }
  await deps.locks.run(containerId, () => tryReleaseShm(deps, containerId));
}

export type ReleaseOutcome = "released" | "no-mount" | "members" | "owner-live";

/**
 * Unmounts the owner's shm and records ShmMountRemoved when the group's mount exists, no
 * member holds it and the owner is not live. Call under the owner's lock. Errors from the
 * host (UnavailableError, FailedPreconditionError for a busy mount) are thrown with
 * nothing recorded, so the caller retries.
 */
export async function tryReleaseShm(deps: FlowDeps, ownerId: string): Promise<ReleaseOutcome> {
  const group = await readGroup(deps.store, ownerId);
  if (group.state.status !== "formed" || !group.state.shmMounted) return "no-mount";
  if (group.state.members.length > 0) return "members";
  const owner = await readContainer(deps.store, ownerId);
  if (isLive(owner.state)) return "owner-live";
  const host = group.state.host;
  if (await hostIsLost(deps.store, host)) {
    // Its host does not answer: the log lets go of the mount now, and the host's agent
    // unmounts it when it returns (its fencing deletes the group's copies, and its reconcile
    // unmounts what no live container owns).
    await groupCommand(deps, ownerId, `v${group.version}`, { type: "ReleaseShmMount", data: { ownerLive: false, now: deps.now() } });
    deps.log.warn({ ownerId, host, path: group.state.shmMountPath }, "shm mount released in the log; its host is lost and unmounts it when it returns");
    return "released";
  }
  try {
    await sendHostCommand(deps.nc, {
      prefix: deps.prefix,
      host,
      command: "UnmountShm",
      payload: { containerId: ownerId },
      timeoutMs: deps.hostCommandTimeoutMs,
    });
  } catch (err) {
    deps.metrics.count("unmount", "failed");
    deps.log.warn({ err, ownerId, host }, "UnmountShm failed; will retry");
    throw err;
  }
  deps.metrics.count("unmount", "ok");
  await groupCommand(deps, ownerId, `v${group.version}`, { type: "ReleaseShmMount", data: { ownerLive: false, now: deps.now() } });
  deps.log.info({ ownerId, host, path: group.state.shmMountPath }, "shm mount removed");
  return "released";
}
