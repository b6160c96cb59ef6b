import { rm } from "node:fs/promises";
import { FailedPreconditionError, isShoalError } from "@shoal/domain";
import type { Task } from "@shoal/containerd";
import type { AgentContext } from "./agent-context";
import { containerPaths } from "./container-store";

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
    if (!(await killAndWait(task, LEFTOVER_KILL_WAIT_MS))) {
      throw new FailedPreconditionError(
        `the previous task of container ${id} on host ${ctx.host} does not stop (an interrupted restore may still be running); try again shortly`,
      );
    }
    await task.delete();
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
 * Removes a container's record and state dir, except an owner's shm mount (only UnmountShm
 * removes that). The record goes first. Caller holds the container's lock.
 */
export async function removeContainerFiles(ctx: AgentContext, id: string): Promise<void> {
  const paths = containerPaths(ctx.stateRoot, id);
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
 * SIGKILL to every process of the task, then its exit within `ms`: whether it exited. A task
 * mid-restore has no process to kill until CRIU is done, so its exit may never come.
 */
export async function killAndWait(task: Task, ms: number): Promise<boolean> {
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
  return exited;
}
