import { InvalidArgumentError } from "@shoal/domain";
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
}

/** Sets `linux.resources.memory.limit`; keeps other resources (device rules). InvalidArgumentError for a non-positive or non-integer limit. */
export function withResources(input: ResourcesInput): SpecOpt {
  if (input.memoryBytes !== undefined && (!Number.isSafeInteger(input.memoryBytes) || input.memoryBytes <= 0)) {
    throw new InvalidArgumentError(`memory limit must be a positive number of bytes, got ${input.memoryBytes}`);
  }
  return (spec) =>
    edit(spec, (s) => {
      if (input.memoryBytes === undefined) return;
      s.linux = { ...(s.linux ?? {}) };
      s.linux.resources = { ...(s.linux.resources ?? {}), memory: { limit: input.memoryBytes } };
    });
}
