import { FailedPreconditionError, InternalError } from "@shoal/domain";
import type { CommandPayload } from "@shoal/host-protocol";
import { runsHere } from "./agent-context";
import type { AgentContext } from "./agent-context";
import { containerPaths } from "./container-store";
import { mountShm, unmountShm } from "./host-mounts";

// An owner's shm tmpfs at `containers/<id>/mounts/shm`, under the `shm:<id>` lock: made by
// MountShm or by a shareable owner's start, removed by UnmountShm or by the failed start
// that made it. The mount(2) calls themselves are host-mounts.ts's.

/**
 * MountShm, and the owner's mount of a shareable start: idempotent with each other, so a
 * tmpfs already there is kept (`created: false`).
 */
export function mountOwnerShm(ctx: AgentContext, p: CommandPayload<"MountShm">): Promise<{ shmMountPath: string; created: boolean }> {
  const path = containerPaths(ctx.stateRoot, p.containerId).shm;
  return ctx.locks.run(`shm:${p.containerId}`, async () => ({ shmMountPath: path, ...(await mountShm(ctx.os, path, p.sizeBytes)) }));
}

/**
 * Starts making the owner's shm tmpfs for a start (as MountShm does). The promise never
 * rejects, so it may wait unobserved while other steps fail: `ok: false` carries the error
 * (InternalError naming the path).
 */
export function mountShmForStart(ctx: AgentContext, id: string, sizeBytes: number): Promise<{ ok: true; created: boolean } | { ok: false; error: Error }> {
  return mountOwnerShm(ctx, { containerId: id, sizeBytes }).then(
    (r) => ({ ok: true as const, created: r.created }),
    (err: unknown) => ({
      ok: false as const,
      error: new InternalError(
        `could not mount /dev/shm of container ${id} at ${containerPaths(ctx.stateRoot, id).shm}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      ),
    }),
  );
}

/**
 * UnmountShm: unmounts every stacked copy and removes the directory (and the container's
 * directory when its record is gone). FailedPreconditionError while a running owner or
 * member uses it, or on EBUSY; never forced.
 */
export function unmountOwnerShm(ctx: AgentContext, p: CommandPayload<"UnmountShm">): Promise<{ unmounted: number }> {
  const paths = containerPaths(ctx.stateRoot, p.containerId);
  return ctx.locks.run(`shm:${p.containerId}`, async () => {
    // On the host the unmount would succeed (containers hold their own copies of the bind),
    // leaving a group's shared memory invisible to the host: refuse while anyone uses it.
    const users = (await ctx.store.list()).records.filter(
      (r) =>
        runsHere(ctx, r.containerId) &&
        (r.ipcPlan.mode === "shareable" || r.ipcPlan.mode === "container") &&
        r.ipcPlan.shmMountPath === paths.shm,
    );
    if (users.length > 0) {
      throw new FailedPreconditionError(
        `shm mount of ${p.containerId} is in use by running container(s) ${users.map((u) => u.containerId).join(", ")}`,
      );
    }
    const result = await unmountShm(ctx.os, paths.shm);
    await ctx.os.rmdir(paths.mounts).catch(() => undefined);
    // The container itself may be gone already: then its directory goes too.
    if ((await ctx.store.get(p.containerId)) === undefined) await ctx.os.rmdir(paths.dir).catch(() => undefined);
    return result;
  });
}
