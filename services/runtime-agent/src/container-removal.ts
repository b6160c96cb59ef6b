import { rm } from "node:fs/promises";
import { FailedPreconditionError, isShoalError } from "@shoal/domain";
import type { Task } from "@shoal/containerd";
import type { AgentContext } from "./agent-context";
import { containerPaths } from "./container-store";
import { removeContainerSnapshot } from "./images/image-rootfs";

// Taking a container's leftovers away: used by a start over an exit that was not cleaned
// up, by DeleteContainer, and by the reconcile of an abandoned start.

/** Swallows NOT_FOUND (already gone is done); rethrows anything else. */
export function ignoreNotFound(err: unknown): void {
  if (!(isShoalError(err) && err.code === "NOT_FOUND")) throw err;
}

/**
 * Kills and deletes a task and container containerd still has for `id` (a failed cleanup,
 * or no record). Nothing there is fine; any other error rejects. Caller holds the container's lock.
 */
export async function removeContainerdLeftovers(ctx: AgentContext, id: string): Promise<void> {
  try {
    const task = await ctx.containerd.loadTask(id);
    if (!(await stopAndDelete(task, LEFTOVER_KILL_WAIT_MS))) {
      throw new FailedPreconditionError(
        `the previous task of container ${id} on host ${ctx.host} does not stop (an interrupted restore may still be running); try again shortly`,
      );
    }
  } catch (err) {
    ignoreNotFound(err);
  }
  try {
    await (await ctx.containerd.loadContainer(id)).delete();
  } catch (err) {
    ignoreNotFound(err);
  }
}

/**
 * Removes a container's image snapshot, record and state dir, except an owner's shm mount
 * (only UnmountShm removes that). Caller holds the container's lock.
 */
export async function removeContainerFiles(ctx: AgentContext, id: string): Promise<void> {
  const paths = containerPaths(ctx.stateRoot, id);
  // An image's rootfs snapshot (its writable layer) goes first, with nothing mounted from it any more.
  await removeContainerSnapshot(ctx, id);
  // The record goes first: a ReadLogs that finds it afterwards gone knows its read may be partial.
  await ctx.store.remove(id);
  try {
    // rmrf refuses, removing nothing, when anything is mounted below (an owner's shm).
    await ctx.os.rmrf(paths.dir);
    return;
  } catch (err) {
    if (!(isShoalError(err) && err.code === "FAILED_PRECONDITION")) throw err;
  }
  await rm(paths.rootfs, { recursive: true, force: true });
  await rm(paths.logs, { recursive: true, force: true });
}

/** How long a leftover task may take to die after SIGKILL. */
const LEFTOVER_KILL_WAIT_MS = 10_000;

/**
 * Ends a task and deletes it; whether it is gone. A task that never started (`created`: a
 * start, or a restore, interrupted between Tasks.Create and Tasks.Start) has no process to
 * kill and never exits: it is deleted as it is. Any other is killed (SIGKILL to all) and
 * deleted once it exited within `ms`; one mid-restore has no process until CRIU is done, so
 * its exit may not come in time (false: try again later).
 */
export async function stopAndDelete(task: Task, ms: number): Promise<boolean> {
  const status = (await task.state().catch(() => undefined))?.status;
  if (status !== "created") {
    await task.kill("SIGKILL", { all: true }).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      task.wait().then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms).unref())),
    ]);
    clearTimeout(timer);
    if (!exited) return false;
  }
  await task.delete().catch(ignoreNotFound);
  return true;
}
