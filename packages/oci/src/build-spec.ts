import { InvalidArgumentError, type IpcPlan } from "@shoal/domain";
import { OCI_VERSION, type Spec, type SpecOpt } from "./spec";
import { withBindMounts, type BindMount, type RroSupport } from "./with-bind-mounts";
import { withCapabilities } from "./with-capabilities";
import { withCgroupsPath, withResources } from "./with-cgroups-path";
import { withDefaultMounts, withMaskedAndReadonlyPaths } from "./with-default-mounts";
import { withIpc } from "./with-ipc";
import { withNamespaces, type NetworkMode } from "./with-namespaces";
import { withProcess, type ProcessInput } from "./with-process";
import { withReadonlyRootfs, withRootfs } from "./with-rootfs";
import { withSecurityOpts } from "./with-security-opts";

/** Everything the agent knows when it builds one container's spec; host facts are passed in, never read here. */
export interface BuildSpecInput {
  /** The container id (containerd id, 64 hex in Shoal). */
  readonly id: string;
  readonly process: ProcessInput;
  readonly hostname?: string;
  readonly privileged?: boolean;
  readonly readonlyRootfs?: boolean;
  readonly network?: NetworkMode;
  /** The IPC plan the mount-manager decided. */
  readonly ipc: IpcPlan;
  /** The host's /dev/shm for `host` IPC mode; default `/dev/shm`. */
  readonly hostShmPath?: string;
  readonly bindMounts?: readonly BindMount[];
  /** Needed only when a bind mount asks for recursive read-only; default unsupported. */
  readonly rro?: RroSupport;
  readonly securityOpt?: readonly string[];
  /** Whether AppArmor is enabled on the host. */
  readonly apparmorEnabled: boolean;
  /** This host's cgroup prefix, unique per agent on a machine. */
  readonly cgroupPrefix: string;
  readonly memoryBytes?: number;
  /** CPU limit in nano-CPUs. */
  readonly nanoCpus?: number;
}

/**
 * The OCI spec for one container, composed in a fixed order so later steps see what
 * earlier ones set: process → rootfs → default mounts → masked/readonly paths →
 * capabilities → namespaces → IPC (namespace and /dev/shm) → user bind mounts →
 * read-only rootfs → security opts (no-new-privileges, AppArmor) → cgroups path →
 * resources. Pure; throws the errors of the steps (InvalidArgumentError for bad input,
 * FailedPreconditionError for an unsupported rro request) before anything is started.
 * A user bind on /dev/shm replaces the IPC /dev/shm, except for `shareable` and
 * `container` plans, where it would silently break sharing: InvalidArgumentError.
 */
export function buildSpec(input: BuildSpecInput): Spec {
  const privileged = input.privileged ?? false;
  if ((input.ipc.mode === "shareable" || input.ipc.mode === "container") && input.bindMounts?.some((m) => m.destination === "/dev/shm")) {
    throw new InvalidArgumentError(`a bind mount on /dev/shm conflicts with --ipc ${input.ipc.mode}, whose /dev/shm is shared`);
  }
  const steps: SpecOpt[] = [
    withProcess(input.process),
    withRootfs(),
    withDefaultMounts({ privileged }),
    withMaskedAndReadonlyPaths({ privileged }),
    withCapabilities(privileged),
    withNamespaces({ network: input.network ?? "new" }),
    withIpc(input.ipc, input.hostShmPath === undefined ? {} : { hostShmPath: input.hostShmPath }),
    withBindMounts(input.bindMounts ?? [], {
      rro: input.rro ?? { supported: false, reason: "recursive read-only support was not determined for this host" },
    }),
    ...(input.readonlyRootfs ? [withReadonlyRootfs()] : []),
    withSecurityOpts(input.securityOpt ?? [], { apparmorEnabled: input.apparmorEnabled, privileged }),
    withCgroupsPath(input.cgroupPrefix, input.id),
    withResources({
      ...(input.memoryBytes !== undefined ? { memoryBytes: input.memoryBytes } : {}),
      ...(input.nanoCpus !== undefined ? { nanoCpus: input.nanoCpus } : {}),
    }),
  ];
  const base: Spec = {
    ociVersion: OCI_VERSION,
    ...(input.hostname !== undefined ? { hostname: input.hostname } : {}),
    // Deny every device by default; runc adds the standard ones (/dev/null, zero, full, tty, random, urandom, ptmx).
    linux: { resources: { devices: [{ allow: false, access: "rwm" }] } },
  };
  return steps.reduce((spec, step) => step(spec), base);
}
