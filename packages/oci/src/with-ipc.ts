import { InvalidArgumentError, type IpcPlan } from "@shoal/domain";
import { edit, type LinuxNamespace, type Mount, type SpecOpt } from "./spec";

export interface IpcOptions {
  /** The host's /dev/shm, bound in for `host` mode. Default `/dev/shm`. The agent checks it is mounted. */
  readonly hostShmPath?: string;
}

/** Options of a /dev/shm bind: private propagation so nothing the container mounts there reaches the host. */
const SHM_BIND_OPTIONS = ["bind", "private", "nosuid", "nodev", "noexec"] as const;

/**
 * Sets the container's IPC namespace and /dev/shm exactly as DESIGN.md's IPC table says:
 *
 * | plan        | ipc namespace                     | /dev/shm                                              |
 * | ----------- | --------------------------------- | ----------------------------------------------------- |
 * | private     | new                               | tmpfs `nosuid,noexec,nodev,mode=1777,size=<bytes>`    |
 * | shareable   | new                               | bind of `plan.shmMountPath` (the host tmpfs)          |
 * | none        | new                               | none (any default /dev/shm mount removed)             |
 * | host        | none listed: the host's           | bind of the host's /dev/shm (`hostShmPath`)           |
 * | container   | `path: /proc/<ownerPid>/ns/ipc`   | bind of the owner's `plan.shmMountPath`               |
 *
 * Replaces any ipc namespace entry and any /dev/shm mount already in the spec.
 * InvalidArgumentError for a non-positive or non-integer shm size or owner pid, or a
 * relative shm path.
 */
export function withIpc(plan: IpcPlan, options: IpcOptions = {}): SpecOpt {
  const { namespace, shmMount } = ipcSetup(plan, options);
  return (spec) =>
    edit(spec, (s) => {
      const namespaces = (s.linux?.namespaces ?? []).filter((n) => n.type !== "ipc");
      if (namespace) namespaces.splice(Math.min(1, namespaces.length), 0, namespace);
      s.linux = { ...(s.linux ?? {}), namespaces };
      const mounts = (s.mounts ?? []).filter((m) => m.destination !== "/dev/shm");
      if (shmMount) {
        // Keep /dev/shm after /dev, where the defaults put it.
        const dev = mounts.findIndex((m) => m.destination === "/dev");
        mounts.splice(dev < 0 ? mounts.length : dev + 1, 0, shmMount);
      }
      s.mounts = mounts;
    });
}

function ipcSetup(plan: IpcPlan, options: IpcOptions): { namespace?: LinuxNamespace; shmMount?: Mount } {
  switch (plan.mode) {
    case "private":
      return {
        namespace: { type: "ipc" },
        shmMount: {
          destination: "/dev/shm",
          type: "tmpfs",
          source: "shm",
          options: ["nosuid", "noexec", "nodev", "mode=1777", `size=${checkSize(plan.shmSizeBytes)}`],
        },
      };
    case "shareable":
      checkSize(plan.shmSizeBytes);
      return { namespace: { type: "ipc" }, shmMount: shmBind(plan.shmMountPath) };
    case "none":
      return { namespace: { type: "ipc" } };
    case "host":
      return { shmMount: shmBind(options.hostShmPath ?? "/dev/shm") };
    case "container": {
      if (!Number.isInteger(plan.ownerPid) || plan.ownerPid <= 0) {
        throw new InvalidArgumentError(`ipc container: owner pid must be a positive integer, got ${plan.ownerPid}`);
      }
      return {
        namespace: { type: "ipc", path: `/proc/${plan.ownerPid}/ns/ipc` },
        shmMount: shmBind(plan.shmMountPath),
      };
    }
    default: {
      const never: never = plan;
      throw new InvalidArgumentError(`unknown IPC mode ${JSON.stringify((never as { mode: unknown }).mode)}`);
    }
  }
}

function shmBind(source: string): Mount {
  if (!source.startsWith("/")) throw new InvalidArgumentError(`shm path must be absolute, got ${JSON.stringify(source)}`);
  return { destination: "/dev/shm", type: "bind", source, options: [...SHM_BIND_OPTIONS] };
}

function checkSize(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new InvalidArgumentError(`shm size must be a positive number of bytes, got ${bytes}`);
  }
  return bytes;
}
