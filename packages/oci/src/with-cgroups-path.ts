import { InvalidArgumentError, cpuQuota } from "@shoal/domain";
import { edit, type SpecOpt } from "./spec";

const ID = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

/**
 * Sets `linux.cgroupsPath` to `/<prefix>/<id>` (cgroupfs driver). Each host (agent)
 * has its own prefix, so several agents on one machine never share or clean up each
 * other's cgroups (containerd-notes: give each host its own cgroup path prefix).
 * `prefix` is one or more `/`-separated segments of `[A-Za-z0-9._-]`, no `.`/`..`;
 * `id` is a containerd id. InvalidArgumentError otherwise.
 */
export function withCgroupsPath(prefix: string, id: string): SpecOpt {
  const segments = prefix.split("/").filter((p) => p !== "");
  if (segments.length === 0 || segments.some((p) => p === "." || p === ".." || !/^[A-Za-z0-9._-]+$/.test(p))) {
    throw new InvalidArgumentError(`cgroup prefix ${JSON.stringify(prefix)} must be path segments of [A-Za-z0-9._-]`);
  }
  if (!ID.test(id)) throw new InvalidArgumentError(`container id ${JSON.stringify(id)} is not a valid containerd id`);
  const path = `/${[...segments, id].join("/")}`;
  return (spec) =>
    edit(spec, (s) => {
      s.linux = { ...(s.linux ?? {}), cgroupsPath: path };
    });
}

export interface ResourcesInput {
  /** Memory limit in bytes; absent means unlimited. */
  readonly memoryBytes?: number;
  /** CPU limit in nano-CPUs (Docker's `--cpus` × 10^9); absent means unlimited. */
  readonly nanoCpus?: number;
}

/**
 * Sets the cgroup limits Docker sets for `--memory` and `--cpus`; keeps other resources
 * (device rules):
 * - `memory.limit`, and `memory.swap` (memory plus swap) at twice the limit, as Docker
 *   defaults `--memory-swap` when only `--memory` is given;
 * - `cpu.quota`/`cpu.period`: the CPUs' share of Docker's 100 ms period.
 * InvalidArgumentError for a non-positive or non-integer value.
 */
export function withResources(input: ResourcesInput): SpecOpt {
  for (const [name, v] of [["memory limit", input.memoryBytes], ["CPU limit", input.nanoCpus]] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v <= 0)) {
      throw new InvalidArgumentError(`${name} must be a positive integer, got ${v}`);
    }
  }
  return (spec) =>
    edit(spec, (s) => {
      if (input.memoryBytes === undefined && input.nanoCpus === undefined) return;
      s.linux = { ...(s.linux ?? {}) };
      const resources = { ...(s.linux.resources ?? {}) };
      if (input.memoryBytes !== undefined) resources.memory = { limit: input.memoryBytes, swap: input.memoryBytes * 2 };
      if (input.nanoCpus !== undefined) {
        const { quotaMicros, periodMicros } = cpuQuota(input.nanoCpus);
        resources.cpu = { quota: quotaMicros, period: periodMicros };
      }
      s.linux.resources = resources;
    });
}
