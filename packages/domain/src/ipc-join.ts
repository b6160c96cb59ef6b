/**
 * Docker's rule for joining another container's IPC namespace (`--ipc container:<ref>`),
 * and its messages: the one home of both. Docker checks it when the member starts, not
 * when it is created, so a member may be created before its owner runs (compose order).
 *
 * The api checks it on StartContainer (the container decider, with the owner it resolved
 * from the ref) and the start request carries the owner's id from then on; the
 * mount-manager checks it again when it plans the member's IPC setup, against the owner
 * as the log shows it then, since the owner may have stopped in between.
 */
import { FailedPreconditionError, NotFoundError } from "./errors";
import type { ShoalError } from "./errors";
import { resolveIpcMode } from "./ipc-mode";
import type { DefaultIpcMode, IpcMode } from "./ipc-mode";
import type { ContainerState } from "./container/state";

/** The owner a member names, as the checking service sees it. */
export interface IpcJoinTarget {
  containerId: string;
  /** True while it has a live process (running or paused). */
  running: boolean;
  /**
   * True when others may join it: its current run was set up `shareable` (or, for one not
   * running, it would be: its mode with the daemon default applied).
   */
  shareable: boolean;
}

/**
 * Undefined when the container `memberId` may join `owner`, which `ref` names; else the
 * refusal, with Docker's meaning:
 * - no such owner: NotFoundError `No such container: <ref>`;
 * - the member itself: FailedPreconditionError `container <ref> cannot join its own IPC namespace`;
 * - not running: FailedPreconditionError `container <ref> is not running`;
 * - not shareable: FailedPreconditionError `non-shareable IPC (hint: start <ref> with --ipc shareable)`.
 */
export function ipcJoinRefusal(ref: string, memberId: string, owner: IpcJoinTarget | undefined): ShoalError | undefined {
  if (owner === undefined) return new NotFoundError(`No such container: ${ref}`);
  if (owner.containerId === memberId) return new FailedPreconditionError(`container ${ref} cannot join its own IPC namespace`);
  if (!owner.running) return new FailedPreconditionError(`container ${ref} is not running`);
  if (!owner.shareable) return new FailedPreconditionError(`non-shareable IPC (hint: start ${ref} with --ipc shareable)`);
  return undefined;
}

/**
 * A container as a join target, from its state: running while it has a live process;
 * shareable by the plan of its current run, or, when it does not run, by its mode with
 * `defaultIpcMode` applied (a record without a mode is shareable). Undefined for a stream
 * with no container (absent, removed).
 */
export function ipcJoinTargetOf(state: ContainerState, defaultIpcMode: DefaultIpcMode): IpcJoinTarget | undefined {
  if (state.status === "absent" || state.status === "removed") return undefined;
  const running = state.status === "running" || state.status === "paused";
  const plan = "ipcPlan" in state ? state.ipcPlan : undefined;
  const mode = running && plan !== undefined ? plan.mode : resolveIpcMode(state.container.hostConfig.ipcMode as IpcMode | undefined, defaultIpcMode).kind;
  return { containerId: state.container.id, running, shareable: mode === "shareable" };
}
