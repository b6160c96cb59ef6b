import { planStaleWrapperRemoval, type WrapperStore } from "@shoal/config";
import { InvalidArgumentError } from "@shoal/domain";
import type { LockedInRuntime } from "./container-store";

/** A runtime as the control plane locks it in for one start: configured name, binary and args. */
export interface RuntimeRequest {
  readonly name: string;
  readonly path: string;
  readonly args?: readonly string[];
}

/**
 * The runtime to record for a new container: the binary itself without args, else the
 * config package's content-addressed wrapper, written now when missing and never changed
 * afterwards. InvalidArgumentError for an empty name or path.
 */
export async function lockInRuntime(wrappers: WrapperStore, runtime: RuntimeRequest): Promise<LockedInRuntime> {
  if (typeof runtime?.name !== "string" || runtime.name === "") throw new InvalidArgumentError("runtime name must not be empty");
  if (typeof runtime.path !== "string" || !runtime.path.startsWith("/")) {
    throw new InvalidArgumentError(`runtime ${runtime.name}: path must be absolute, got ${JSON.stringify(runtime.path)}`);
  }
  const args = [...(runtime.args ?? [])];
  if (args.length === 0) return { name: runtime.name, path: runtime.path, args, binaryPath: runtime.path };
  const binaryPath = await wrappers.ensure({ path: runtime.path, runtimeArgs: args });
  return { name: runtime.name, path: runtime.path, args, binaryPath };
}

/**
 * At agent start only, before any container is started: removes wrappers that no live
 * container's locked-in runtime uses. Returns the removed file names.
 */
export async function removeStaleWrappers(wrappers: WrapperStore, inUse: ReadonlySet<string>): Promise<string[]> {
  const plan = planStaleWrapperRemoval({ present: await wrappers.list(), inUse, current: [] });
  await wrappers.remove(plan.remove);
  return plan.remove;
}
