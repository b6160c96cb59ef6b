import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FailedPreconditionError, InvalidArgumentError, isShoalError } from "@shoal/domain";
import type { HostOs, MountInfoEntry } from "@shoal/host-os";

/** The mount entries at `path`, bottom first (mountinfo lists them in mount order). */
export function mountsAt(table: readonly MountInfoEntry[], path: string): MountInfoEntry[] {
  return table.filter((m) => m.mountPoint === path);
}

/** The mount that contains `path`: the last-mounted entry with the longest matching mount point. */
export function mountContaining(table: readonly MountInfoEntry[], path: string): MountInfoEntry | undefined {
  let best: MountInfoEntry | undefined;
  for (const m of table) {
    const p = m.mountPoint;
    const contains = p === "/" || path === p || path.startsWith(`${p}/`);
    if (contains && (best === undefined || p.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/**
 * Mounts an owner's shm tmpfs at `path` (`mode=1777,size=<bytes>`, nosuid,nodev,noexec).
 * Idempotent: a tmpfs already at `path` is kept as is and `created` is false.
 * InvalidArgumentError for a non-positive size.
 */
export async function mountShm(os: HostOs, path: string, sizeBytes: number): Promise<{ created: boolean }> {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
    throw new InvalidArgumentError(`shm size must be a positive number of bytes, got ${sizeBytes}`);
  }
  // A path not there yet has nothing mounted on it: the usual case (a new owner's directory)
  // needs no read of the whole mount table, which grows with every running container.
  if (await os.pathExists(path)) {
    if (mountsAt(await os.readMountInfo(), path).some((m) => m.fsType === "tmpfs")) return { created: false };
  }
  await os.mkdirp(path, 0o755);
  await os.mount({ source: "shm", target: path, fstype: "tmpfs", flags: ["nosuid", "nodev", "noexec"], data: `mode=1777,size=${sizeBytes}` });
  return { created: true };
}

/**
 * Unmounts every mount stacked at `path` and removes the directory. A path that is not
 * mounted is fine. FailedPreconditionError (EBUSY) when a process still uses it: it is
 * never forced.
 */
export async function unmountShm(os: HostOs, path: string): Promise<{ unmounted: number }> {
  let unmounted = 0;
  for (;;) {
    if (mountsAt(await os.readMountInfo(), path).length === 0) break;
    try {
      await os.unmount(path);
      unmounted++;
    } catch (err) {
      if (isShoalError(err) && err.code === "NOT_FOUND") break;
      throw err;
    }
  }
  await os.rmdir(path).catch((err: unknown) => {
    if (!(isShoalError(err) && err.code === "NOT_FOUND")) throw err;
  });
  return { unmounted };
}

/**
 * Makes sure mounts made under `stateRoot` propagate (DESIGN: state root propagation):
 * when the mount containing it is not shared, bind-mounts it onto itself and makes it
 * rshared, and records that in `markerFile` so only a clean shutdown undoes it — and
 * only that bind. Returns whether the agent owns such a bind now.
 */
export async function ensureSharedStateRoot(os: HostOs, stateRoot: string, markerFile: string): Promise<{ bound: boolean }> {
  await os.mkdirp(stateRoot, 0o711);
  const table = await os.readMountInfo();
  const containing = mountContaining(table, stateRoot);
  const marked = await readFile(markerFile, "utf8").then(
    () => true,
    () => false,
  );
  if (containing?.propagation === "shared") return { bound: marked && containing.mountPoint === stateRoot };
  if (containing?.mountPoint !== stateRoot) {
    await os.mount({ source: stateRoot, target: stateRoot, flags: ["bind"] });
    await writeFile(markerFile, JSON.stringify({ stateRoot, boundAt: new Date().toISOString() }));
    await os.makeRShared(stateRoot);
    return { bound: true };
  }
  await os.makeRShared(stateRoot);
  return { bound: marked };
}

/**
 * Undoes ensureSharedStateRoot's bind at clean shutdown, and only that: when the marker
 * says the agent made the bind. A state root that is a mount of its own (an operator's
 * filesystem, a container's volume) is left mounted. Refuses (FailedPreconditionError,
 * nothing changed) while anything is still mounted below the state root, since detaching
 * the bind would hide those mounts from the next agent.
 */
export async function releaseSharedStateRoot(os: HostOs, stateRoot: string, markerFile: string): Promise<void> {
  const marked = await readFile(markerFile, "utf8").then(
    () => true,
    () => false,
  );
  if (!marked) return;
  const table = await os.readMountInfo();
  const below = table.filter((m) => m.mountPoint.startsWith(`${stateRoot}/`));
  if (below.length > 0) {
    throw new FailedPreconditionError(`${below.length} mount(s) still below ${stateRoot} (first: ${below[0]!.mountPoint}); keeping its bind`);
  }
  if (mountsAt(table, stateRoot).length > 0) await os.unmount(stateRoot);
  await rm(markerFile, { force: true });
}

export function stateRootMarker(runDir: string): string {
  return join(runDir, "state-root-bind.json");
}
