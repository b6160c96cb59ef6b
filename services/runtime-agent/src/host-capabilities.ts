import { execFile } from "node:child_process";
import { statfs } from "node:fs/promises";
import { release } from "node:os";
import type { HostOs, RecursiveReadOnlySupport } from "@shoal/host-os";
import { rroSupport } from "@shoal/oci";
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
    run("criu", ["check"]).then((r) =>
      r.ok
        ? { available: true as const, message: r.output.trim() || "Looks good." }
        : { available: false as const, reason: lastLines(r.output) || r.error },
    ),
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
