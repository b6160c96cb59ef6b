/**
 * Plans one container's IPC setup (DESIGN.md's IPC semantics table). Pure: everything it
 * needs arrives in the input, read by the caller from the log just before.
 */
import { FailedPreconditionError, effectiveShmSize, ipcJoinRefusal, resolveIpcMode } from "@shoal/domain";
import type { DefaultIpcMode, IpcMode, IpcPlan, ResolvedIpcMode, ShoalError } from "@shoal/domain";

/** The daemon config keys the plan depends on, from one config snapshot. */
export interface IpcPlanConfig {
  defaultIpcMode: DefaultIpcMode;
  defaultShmSizeBytes: number;
  /** `state-root`: where shm mounts live (`<stateRoot>/containers/<owner id>/mounts/shm`) on a host that did not register its own. */
  stateRoot: string;
}

/** The owner a member names, as the log shows it now. */
export interface IpcOwnerView {
  containerId: string;
  /** True while the owner has a live process (running or paused). */
  running: boolean;
  /** Present while running. */
  pid?: number;
  host?: string;
  /** The plan the owner's current run was prepared with. */
  plan?: IpcPlan;
}

/** An owner's shm mount that members still hold (they outlived its previous run). */
export interface MountedShm {
  host: string;
  sizeBytes: number;
  path: string;
}

export interface IpcPlanInput {
  containerId: string;
  /** `hostConfig.ipcMode` as stored; undefined for a record made before IPC modes existed (it behaves as shareable). */
  requestedMode: IpcMode | undefined;
  /** `--shm-size` in bytes, undefined when not set. */
  requestedShmSize: number | undefined;
  /** Where the scheduler placed the container. */
  host: string;
  /**
   * The state root that host's agent registered with (HostRegistered capabilities); the
   * owner's shm path is planned under it, since that agent mounts only there. Undefined:
   * the config's `state-root`.
   */
  hostStateRoot?: string;
  config: IpcPlanConfig;
  /** For `container:<x>`: x as found in the log, or undefined when no such container exists. */
  owner?: IpcOwnerView;
  /** For a shareable container: its shm mount if the log says members still hold it. */
  mountedShm?: MountedShm;
}

export type IpcPlanning =
  | { ok: true; mode: ResolvedIpcMode; plan: IpcPlan }
  /** Nothing may be set up: the start fails with `error.message` as its reason. */
  | { ok: false; mode: ResolvedIpcMode; error: ShoalError };

/** The host path of an owner's shm tmpfs. */
export function shmMountPath(stateRoot: string, ownerId: string): string {
  return `${stateRoot.replace(/\/+$/, "")}/containers/${ownerId}/mounts/shm`;
}

/**
 * The IPC plan for a container about to start, or the refusal:
 * - `container:<x>`: the join rule (@shoal/domain's ipcJoinRefusal) against the owner as the
 *   log shows it now, since it may have stopped after the api checked it; then on another
 *   host → FailedPreconditionError. A member gets the owner's pid, shm path and size.
 * - `shareable`: its own shm size (else `default-shm-size`) at `shmMountPath` under the
 *   host's state root (else the config's); an shm mount members still hold from a previous
 *   run is reused with its size and path, and must be on the same host
 *   (FailedPreconditionError otherwise).
 * - `private`: a size; `none`, `host`: no size.
 */
export function planIpc(input: IpcPlanInput): IpcPlanning {
  const mode = resolveIpcMode(input.requestedMode, input.config.defaultIpcMode);
  const sized = (): number =>
    effectiveShmSize({ mode, requested: input.requestedShmSize, daemonDefault: input.config.defaultShmSizeBytes })!;
  switch (mode.kind) {
    case "none":
      return { ok: true, mode, plan: { mode: "none" } };
    case "host":
      return { ok: true, mode, plan: { mode: "host" } };
    case "private":
      return { ok: true, mode, plan: { mode: "private", shmSizeBytes: sized() } };
    case "shareable": {
      const mounted = input.mountedShm;
      if (mounted !== undefined) {
        if (mounted.host !== input.host) {
          return refuse(
            mode,
            new FailedPreconditionError(
              `the shm mount of container ${input.containerId} is still in use by its IPC group on host ${mounted.host}; ` +
                `it cannot start on host ${input.host}`,
            ),
          );
        }
        return { ok: true, mode, plan: { mode: "shareable", shmSizeBytes: mounted.sizeBytes, shmMountPath: mounted.path } };
      }
      return {
        ok: true,
        mode,
        plan: {
          mode: "shareable",
          shmSizeBytes: sized(),
          shmMountPath: shmMountPath(input.hostStateRoot ?? input.config.stateRoot, input.containerId),
        },
      };
    }
    case "container":
      return planMember(input, mode);
    default: {
      const never: never = mode;
      return never;
    }
  }
}

function planMember(input: IpcPlanInput, mode: Extract<ResolvedIpcMode, { kind: "container" }>): IpcPlanning {
  const ref = mode.ref;
  const owner = input.owner;
  const plan = owner?.plan;
  // The owner's current run, when it runs shareable with its pid and host known.
  const run =
    owner?.running && owner.pid !== undefined && owner.host !== undefined && plan?.mode === "shareable"
      ? { containerId: owner.containerId, pid: owner.pid, host: owner.host, plan }
      : undefined;
  const target = owner && { containerId: owner.containerId, running: owner.running && owner.pid !== undefined, shareable: plan?.mode === "shareable" };
  const refusal = ipcJoinRefusal(ref, input.containerId, target);
  if (refusal !== undefined || run === undefined) return refuse(mode, refusal ?? new FailedPreconditionError(`container ${ref} is not running`));
  if (run.host !== input.host) {
    return refuse(
      mode,
      new FailedPreconditionError(
        `container ${ref} runs on host ${run.host}, not on ${input.host}: an IPC group runs on one host`,
      ),
    );
  }
  return {
    ok: true,
    mode,
    plan: {
      mode: "container",
      ownerId: run.containerId,
      ownerPid: run.pid,
      shmSizeBytes: run.plan.shmSizeBytes,
      shmMountPath: run.plan.shmMountPath,
    },
  };
}

function refuse(mode: ResolvedIpcMode, error: ShoalError): IpcPlanning {
  return { ok: false, mode, error };
}

