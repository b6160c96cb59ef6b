/**
 * Podman for comparisons: Debian's `podman` (4.3), run as root with its own storage, run and
 * tmp directories, so it never touches another podman's containers and everything it made
 * can be removed.
 *
 *   storage  /var/lib/shoal-bench/podman/storage    run root  /run/shoal-bench/podman/run
 *   tmp dir  /run/shoal-bench/podman/tmp            (libpod's locks, events file, exit files)
 *
 * Everything else is podman's default on this machine (cgroupfs manager, file events, runc
 * from PATH, conmon). Containers are started `--network none --rootfs DIR` with
 * `--ulimit nofile=1024:1024 --ulimit nproc=1024:1024`: podman's default rlimits exceed the
 * hard limits of these VMs and its start fails without them.
 *
 * `stop()` removes every container it started (`rm -f -t 0`, then `runc delete --force` for
 * any left in runc's default root), unmounts what is left under its directories and removes
 * them. Requires root; installs `podman` with apt when it is missing.
 */
import { existsSync } from "node:fs";
import { mkdir, rm, rmdir } from "node:fs/promises";
import { runQuiet, timeProcess } from "./processes";
import { unmountBelow } from "./host-leftovers";

export const PODMAN = "/usr/bin/podman";
const DATA_ROOT = "/var/lib/shoal-bench/podman";
const RUN_ROOT = "/run/shoal-bench/podman";
/** Where podman (as root, no runtime root configured) has runc keep container state. */
const RUNC_ROOT = "/run/runc";

/** The rlimits podman needs on these VMs (its defaults exceed the hard limits). */
export const PODMAN_ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"] as const;

export interface PrivatePodman {
  /** Global flags for `podman`: the private storage, run root and tmp dir. */
  readonly globalArgs: readonly string[];
  /** Runs `podman <globalArgs> <args>`; rejects with its stderr on a non-zero exit. */
  podman(args: readonly string[]): Promise<string>;
  /** Remembers a container id for `stop()` to remove, should its own removal fail. */
  track(id: string): void;
  /** `podman rm -f -t 0 id` (SIGKILL at once, as `docker rm -f` does). */
  remove(id: string): Promise<void>;
  version(): Promise<string>;
  stop(): Promise<void>;
}

/** Installs podman with apt when it is not there. */
export async function ensurePodmanInstalled(): Promise<void> {
  if (existsSync(PODMAN)) return;
  console.error("podman is missing: apt-get install -y podman …");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  let r = await runQuiet("apt-get", ["install", "-y", "--no-install-recommends", "podman"], env);
  if (r.code !== 0) {
    await runQuiet("apt-get", ["update"], env);
    r = await runQuiet("apt-get", ["install", "-y", "--no-install-recommends", "podman"], env);
  }
  if (r.code !== 0 || !existsSync(PODMAN)) throw new Error(`could not install podman with apt: ${r.stderr.trim().split("\n").slice(-3).join("\n")}`);
}

const GLOBAL_ARGS = ["--root", `${DATA_ROOT}/storage`, "--runroot", `${RUN_ROOT}/run`, "--tmpdir", `${RUN_ROOT}/tmp`] as const;

/** Removes every container in the private storage (and `also`, from runc's root), then the directories. */
async function removeEverything(also: Iterable<string> = []): Promise<void> {
  const ids = (await runQuiet(PODMAN, [...GLOBAL_ARGS, "ps", "-aq", "--no-trunc"])).stdout.split("\n").filter((s) => s !== "");
  if (ids.length > 0) await runQuiet(PODMAN, [...GLOBAL_ARGS, "rm", "-f", "-t", "0", ...ids]);
  // What podman could not remove (it failed, or was killed): runc keeps the state in its default root.
  for (const id of new Set([...also, ...ids])) {
    if (existsSync(`${RUNC_ROOT}/${id}`)) await runQuiet("runc", ["--root", RUNC_ROOT, "delete", "--force", id]);
  }
  await unmountBelow([DATA_ROOT, RUN_ROOT]);
  await rm(DATA_ROOT, { recursive: true, force: true });
  await rm(RUN_ROOT, { recursive: true, force: true });
  await rmdir("/run/shoal-bench").catch(() => undefined);
  await rmdir("/var/lib/shoal-bench").catch(() => undefined);
}

/**
 * Prepares the private directories. Call it only while no other benchmark runs (bench:e2e
 * starts it after its private dockerd, which refuses to start twice): what an earlier,
 * killed run left there is removed first.
 */
export async function startPrivatePodman(): Promise<PrivatePodman> {
  await ensurePodmanInstalled();
  if (existsSync(DATA_ROOT) || existsSync(RUN_ROOT)) {
    console.error(`removing what an earlier benchmark left in ${DATA_ROOT} and ${RUN_ROOT}`);
    await removeEverything();
  }
  await mkdir(`${DATA_ROOT}/storage`, { recursive: true });
  await mkdir(`${RUN_ROOT}/run`, { recursive: true });
  await mkdir(`${RUN_ROOT}/tmp`, { recursive: true });
  const podman = async (args: readonly string[]) => (await timeProcess(PODMAN, [...GLOBAL_ARGS, ...args])).stdout;
  const started = new Set<string>();
  return {
    globalArgs: GLOBAL_ARGS,
    podman,
    track: (id) => void started.add(id),
    async remove(id) {
      await podman(["rm", "-f", "-t", "0", id]);
      started.delete(id);
    },
    version: async () => (await podman(["version", "--format", "{{.Client.Version}}"])).trim(),
    stop: () => removeEverything(started),
  };
}
