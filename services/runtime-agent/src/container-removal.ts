import { rm } from "node:fs/promises";
import { isShoalError } from "@shoal/domain";
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
    await task.kill("SIGKILL", { all: true }).catch(() => undefined);
    await task.wait().catch(() => undefined);
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
