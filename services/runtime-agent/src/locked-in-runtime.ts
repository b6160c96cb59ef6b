import { planStaleWrapperRemoval, type WrapperStore } from "@shoal/config";
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { FailedPreconditionError, InvalidArgumentError } from "@shoal/domain";
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
 * afterwards. A bare binary name is resolved on this host's PATH (FailedPreconditionError
 * when it is not there). InvalidArgumentError for an empty name or path.
 */
export async function lockInRuntime(wrappers: WrapperStore, runtime: RuntimeRequest): Promise<LockedInRuntime> {
  if (typeof runtime?.name !== "string" || runtime.name === "") throw new InvalidArgumentError("runtime name must not be empty");
  if (typeof runtime.path !== "string" || runtime.path === "") {
    throw new InvalidArgumentError(`runtime ${runtime.name}: path must be absolute or a binary name, got ${JSON.stringify(runtime.path)}`);
  }
  // A bare name (the built-in `runc`) is found on this host's PATH: the control plane's is another machine's.
  const path = runtime.path.startsWith("/") ? runtime.path : findOnPath(runtime.path);
  const args = [...(runtime.args ?? [])];
  if (args.length === 0) return { name: runtime.name, path, args, binaryPath: path };
  const binaryPath = await wrappers.ensure({ path, runtimeArgs: args });
  return { name: runtime.name, path, args, binaryPath };
}

/** The first executable `name` on this process's PATH (then the usual sbin/bin dirs); FailedPreconditionError when none. */
function findOnPath(name: string): string {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
  for (const dir of dirs) {
    if (!dir.startsWith("/")) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new FailedPreconditionError(`runtime binary ${name} was not found on this host's PATH`);
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
