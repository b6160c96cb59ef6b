import { execFile } from "node:child_process";
import { readFile, statfs } from "node:fs/promises";
import { availableParallelism, release, totalmem } from "node:os";
import { posix } from "node:path";
import type { HostOs, RecursiveReadOnlySupport } from "@shoal/host-os";
import { rroSupport } from "@shoal/oci";
import { NANO_CPUS_PER_CPU } from "@shoal/domain";
import type { HostCapabilities, RuntimeCapability } from "@shoal/domain";

/** The one type of a host's capabilities is @shoal/domain's; this file fills it in. */
export type { HostCapabilities, RuntimeCapability };

const CGROUP2_SUPER_MAGIC = 0x63677270;

/**
 * Probes the host. Never throws: a probe that cannot run is reported with its reason
 * (a missing `criu` binary is `available: false` with the error; an rro probe that fails is
 * rro `supported: false` with why). AppArmor and recursive read-only support are asked of the
 * kernel through `os`; the rro probe mounts a scratch tmpfs at `rroProbeDir` for a moment.
 */
export async function detectCapabilities(
  os: HostOs,
  runtimes: readonly { name: string; path: string }[],
  stateRoot: string,
  rroProbeDir: string,
): Promise<HostCapabilities> {
  const kernelVersion = release();
  const kernelRro = os
    .probeRecursiveReadOnly(rroProbeDir)
    .catch((err: unknown): RecursiveReadOnlySupport => ({ supported: false, reason: `the probe could not run: ${(err as Error).message}` }));
  const [cgroupVersion, apparmorEnabled, criu, runtimeCaps] = await Promise.all([
    statfs("/sys/fs/cgroup").then(
      (s) => (s.type === CGROUP2_SUPER_MAGIC ? "v2" : "v1") as "v1" | "v2",
      () => "v1" as const,
    ),
    os.appArmorEnabled().catch(() => false),
    Promise.all([run("criu", ["check"]), run("criu", ["--version"])]).then(([r, v]) => {
      if (!r.ok) return { available: false as const, reason: lastLines(r.output) || r.error };
      const version = /^Version:\s*(\S+)/m.exec(v.stdout)?.[1];
      return { available: true as const, message: lastLines(r.output) || "Looks good.", ...(version !== undefined ? { version } : {}) };
    }),
    Promise.all(runtimes.map((rt) => runtimeCapability(rt, kernelRro))),
  ]);
  return { kernelVersion, cgroupVersion, runtimes: runtimeCaps, apparmor: { enabled: apparmorEnabled }, criu, stateRoot };
}

async function runtimeCapability(rt: { name: string; path: string }, kernelRro: Promise<RecursiveReadOnlySupport>): Promise<RuntimeCapability> {
  const r = await run(rt.path, ["features"]);
  const kernel = await kernelRro;
  let features: unknown;
  let featuresError: string | undefined;
  if (r.ok) {
    try {
      features = JSON.parse(r.stdout);
    } catch {
      featuresError = "`features` did not print JSON";
    }
  } else {
    featuresError = lastLines(r.output) || r.error;
  }
  const cap: RuntimeCapability = {
    name: rt.name,
    path: rt.path,
    rro: rroSupport({ kernel, runtimeName: rt.name, runtimeFeatures: features }),
  };
  if (features !== undefined) cap.features = features;
  if (featuresError !== undefined) cap.featuresError = featuresError;
  return cap;
}

function run(cmd: string, args: string[]): Promise<{ ok: boolean; stdout: string; output: string; error: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      resolve({ ok: err === null, stdout, output: `${stdout}${stderr}`, error: err ? err.message : "" });
    });
  });
}

function lastLines(text: string): string {
  return text.trim().split("\n").slice(-3).join("\n");
}

/** What a host offers to containers, as its HostRegistered reports it. */
export interface HostCapacity {
  memoryBytes: number;
  /** CPUs in nano-CPUs (10^9 per CPU, Docker's `NanoCpus`). */
  nanoCpus: number;
  /** Where each figure came from, for the log (`/proc/meminfo MemTotal`, a cgroup file, an override). */
  memorySource: string;
  cpusSource: string;
}

/** What `probeCapacity` reads; the real machine's by default (`machineCapacitySources`). */
export interface CapacitySources {
  /** A file's text; undefined when it does not exist or cannot be read. */
  readFile(path: string): Promise<string | undefined>;
  /** The CPUs this process may run on (its scheduler affinity, so a cpuset counts). */
  cpuCount: number;
  /** Used when /proc/meminfo cannot be read. */
  fallbackMemoryBytes: number;
  /** Where the cgroup filesystem is mounted; default /sys/fs/cgroup. */
  cgroupRoot?: string;
}

export function machineCapacitySources(): CapacitySources {
  return {
    readFile: (path) => readFile(path, "utf8").catch(() => undefined),
    cpuCount: availableParallelism(),
    fallbackMemoryBytes: totalmem(),
  };
}

/**
 * The memory and CPUs this host offers to containers: the machine's, capped by every
 * limit on the agent's own cgroup and its ancestors (for an agent inside a container,
 * the container's limits). Never throws: a file that cannot be read or parsed is skipped.
 *
 * Sources, each read through `src.readFile`:
 * - `/proc/meminfo` `MemTotal`: the machine's memory (kB). Inside a container it still
 *   shows the machine's, so the cgroup limits below are what count there.
 * - `src.cpuCount`: the CPUs the agent may run on (sched affinity: a cpuset shrinks it).
 * - `/proc/self/cgroup`: the agent's cgroup, one line per hierarchy:
 *   `0::/path` on cgroup v2 (the unified hierarchy), `N:memory:/path` and
 *   `N:cpu,cpuacct:/path` on v1. A controller with a v1 line is read on v1, else on v2.
 * - cgroup v2, in `<root>/<path>` and each parent up to `<root>`: `memory.max` (bytes, or
 *   `max`: no limit) and `cpu.max` (`<quota> <period>` in µs, or `max <period>`: no limit;
 *   quota/period CPUs).
 * - cgroup v1, in `<root>/<controllers>/<path>` and each parent: `memory.limit_in_bytes`
 *   (2^62 or more means no limit) and `cpu.cfs_quota_us` / `cpu.cfs_period_us` (quota -1:
 *   no limit). Where the container's own cgroup is mounted as the hierarchy's root (a
 *   non-privileged container), the deeper paths are missing and the root's files count.
 * The smallest limit found wins, and never more than the machine has.
 */
export async function probeCapacity(src: CapacitySources): Promise<HostCapacity> {
  const root = src.cgroupRoot ?? "/sys/fs/cgroup";
  const memTotal = /^MemTotal:\s+(\d+)\s*kB$/m.exec((await src.readFile("/proc/meminfo")) ?? "");
  let memoryBytes = memTotal === null ? src.fallbackMemoryBytes : Number(memTotal[1]) * 1024;
  let memorySource = memTotal === null ? "total memory (os.totalmem)" : "/proc/meminfo MemTotal";
  let nanoCpus = src.cpuCount * NANO_CPUS_PER_CPU;
  let cpusSource = `${src.cpuCount} CPUs this process may run on`;

  const lines = ((await src.readFile("/proc/self/cgroup")) ?? "")
    .split("\n")
    .map((l) => /^(\d+):([^:]*):(\/.*)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null);
  const v1 = (controller: string) => lines.find((m) => m[2]!.split(",").includes(controller));
  const v2 = lines.find((m) => m[1] === "0" && m[2] === "");
  /** `dir` and each parent up to `top`. */
  const upFrom = (top: string, path: string) => {
    const dirs: string[] = [];
    for (let p = posix.normalize(path); ; p = posix.dirname(p)) {
      dirs.push(posix.join(top, p));
      if (p === "/" || p === ".") return dirs;
    }
  };

  const memoryLine = v1("memory");
  if (memoryLine !== undefined || v2 !== undefined) {
    const onV1 = memoryLine !== undefined;
    const top = onV1 ? posix.join(root, memoryLine[2]!) : root;
    const file = onV1 ? "memory.limit_in_bytes" : "memory.max";
    for (const dir of upFrom(top, (onV1 ? memoryLine : v2!)[3]!)) {
      const text = (await src.readFile(posix.join(dir, file)))?.trim();
      if (text === undefined || !/^\d+$/.test(text)) continue; // absent, or "max"
      const limit = Number(text);
      if (limit >= 2 ** 62) continue; // v1's "no limit"
      if (limit < memoryBytes) {
        memoryBytes = limit;
        memorySource = `cgroup ${posix.join(dir, file)}`;
      }
    }
  }

  const cpuLine = v1("cpu");
  if (cpuLine !== undefined || v2 !== undefined) {
    const onV1 = cpuLine !== undefined;
    const top = onV1 ? posix.join(root, cpuLine[2]!) : root;
    for (const dir of upFrom(top, (onV1 ? cpuLine : v2!)[3]!)) {
      let quota: number;
      let period: number;
      if (onV1) {
        quota = Number((await src.readFile(posix.join(dir, "cpu.cfs_quota_us")))?.trim() ?? NaN);
        period = Number((await src.readFile(posix.join(dir, "cpu.cfs_period_us")))?.trim() ?? NaN);
      } else {
        const m = /^(\d+)\s+(\d+)$/.exec((await src.readFile(posix.join(dir, "cpu.max")))?.trim() ?? "");
        quota = Number(m?.[1] ?? NaN);
        period = Number(m?.[2] ?? NaN);
      }
      if (!(quota > 0) || !(period > 0)) continue; // absent, "max", or -1: no limit
      const limit = Math.floor((quota * NANO_CPUS_PER_CPU) / period);
      if (limit < nanoCpus) {
        nanoCpus = limit;
        cpusSource = `cgroup ${posix.join(dir, onV1 ? "cpu.cfs_quota_us" : "cpu.max")}`;
      }
    }
  }
  return { memoryBytes, nanoCpus, memorySource, cpusSource };
}
