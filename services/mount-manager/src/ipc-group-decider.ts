/**
 * The IPC group aggregate: one stream per owner, `ipc-group-<owner id>`. It records which
 * members hold the owner's shm mount and whether that mount is in force (ordered for the
 * owner's start, which makes it, and not yet removed), so the mount-manager
 * orders an unmount only after the last member and the owner are gone. Pure: time
 * arrives on the command; whether the owner's process is live is read by the caller
 * from the owner's container stream and passed on `ReleaseShmMount`.
 *
 *   absent ─FormIpcGroup─► formed{shm mounted} ─JoinIpcGroup/LeaveIpcGroup─► …
 *   formed{mounted, no members, owner not live} ─ReleaseShmMount─► formed{shm unmounted}
 *   formed{unmounted} ─FormIpcGroup (the owner starts again)─► formed{mounted}
 */
import { FailedPreconditionError, InternalError } from "@shoal/domain";
import { IPC_GROUP_EVENT_SCHEMA_VERSIONS, isIpcGroupEventType } from "@shoal/domain";
import type { Decider, DomainCommand, IpcGroupEvent } from "@shoal/domain";

export { IPC_GROUP_EVENT_SCHEMA_VERSIONS, isIpcGroupEventType };
export type { IpcGroupEvent };

/** Orders the owner's shm mount on `host` (recorded with the owner's ContainerIpcPrepared, before its agent mounts). */
export type FormIpcGroup = DomainCommand<
  "FormIpcGroup",
  { ownerId: string; host: string; shmSizeBytes: number; shmMountPath: string; now: string }
>;
export type JoinIpcGroup = DomainCommand<"JoinIpcGroup", { memberId: string; now: string }>;
export type LeaveIpcGroup = DomainCommand<"LeaveIpcGroup", { memberId: string; reason: string; now: string }>;
/** The shm mount has been (or is about to be) unmounted; `ownerLive`: the owner has a process or a start in progress. */
export type ReleaseShmMount = DomainCommand<"ReleaseShmMount", { ownerLive: boolean; now: string }>;

export type IpcGroupCommand = FormIpcGroup | JoinIpcGroup | LeaveIpcGroup | ReleaseShmMount;

export type IpcGroupState =
  | { status: "absent" }
  | {
      status: "formed";
      ownerId: string;
      host: string;
      shmSizeBytes: number;
      shmMountPath: string;
      shmMounted: boolean;
      /** Members holding the shm mount now, in join order. */
      members: string[];
    };

export function initialState(): IpcGroupState {
  return { status: "absent" };
}

/**
 * Refusals (FailedPreconditionError, nothing recorded):
 * - FormIpcGroup while members hold a mount on another host or with another size or path (with
 *   no members, the old mount is superseded: the group is formed anew; the caller tries to
 *   unmount the old one first, and a host that kept it removes it at its own reconcile);
 * - JoinIpcGroup with no group or no mount;
 * - ReleaseShmMount while members hold the mount or the owner is live.
 * Repeats are accepted with no events: forming a mounted group with the same mount,
 * joining twice, leaving when not a member, releasing an absent or unmounted mount.
 */
export function decide(command: IpcGroupCommand, state: IpcGroupState): IpcGroupEvent[] {
  switch (command.type) {
    case "FormIpcGroup": {
      const c = command.data;
      if (state.status === "formed" && state.shmMounted) {
        if (state.host === c.host && state.shmSizeBytes === c.shmSizeBytes && state.shmMountPath === c.shmMountPath) return [];
        // Nobody holds the old mount: the owner's new run supersedes it (its release never finished).
        if (state.members.length > 0) throw new FailedPreconditionError(
          `the shm mount of container ${state.ownerId} is still mounted on host ${state.host} ` +
            `(${state.shmSizeBytes} bytes at ${state.shmMountPath}) and used by its IPC group`,
        );
      }
      return [
        {
          type: "IpcGroupFormed",
          data: { ownerId: c.ownerId, host: c.host, shmSizeBytes: c.shmSizeBytes, shmMountPath: c.shmMountPath, formedAt: c.now },
        },
        {
          type: "ShmMountCreated",
          data: { ownerId: c.ownerId, host: c.host, path: c.shmMountPath, sizeBytes: c.shmSizeBytes, createdAt: c.now },
        },
      ];
    }
    case "JoinIpcGroup": {
      if (state.status !== "formed" || !state.shmMounted) {
        throw new FailedPreconditionError(`container ${command.data.memberId} cannot join an IPC group whose shm is not mounted`);
      }
      if (state.members.includes(command.data.memberId)) return [];
      return [{ type: "IpcGroupMemberJoined", data: { ownerId: state.ownerId, memberId: command.data.memberId, joinedAt: command.data.now } }];
    }
    case "LeaveIpcGroup": {
      if (state.status !== "formed" || !state.members.includes(command.data.memberId)) return [];
      return [
        {
          type: "IpcGroupMemberLeft",
          data: { ownerId: state.ownerId, memberId: command.data.memberId, reason: command.data.reason, leftAt: command.data.now },
        },
      ];
    }
    case "ReleaseShmMount": {
      if (state.status !== "formed" || !state.shmMounted) return [];
      if (state.members.length > 0) {
        throw new FailedPreconditionError(
          `the shm mount of container ${state.ownerId} is used by ${state.members.length} member(s): ${state.members.join(", ")}`,
        );
      }
      if (command.data.ownerLive) {
        throw new FailedPreconditionError(`the shm mount of container ${state.ownerId} is used by its owner`);
      }
      return [
        { type: "ShmMountRemoved", data: { ownerId: state.ownerId, host: state.host, path: state.shmMountPath, removedAt: command.data.now } },
      ];
    }
    default: {
      const never: never = command;
      throw new InternalError(`unknown IPC group command ${JSON.stringify(never)}`);
    }
  }
}

/** Never refuses a recorded fact, except a fact before IpcGroupFormed (a corrupt stream: InternalError). */
export function evolve(state: IpcGroupState, event: IpcGroupEvent): IpcGroupState {
  if (event.type === "IpcGroupFormed") {
    const d = event.data;
    return {
      status: "formed",
      ownerId: d.ownerId,
      host: d.host,
      shmSizeBytes: d.shmSizeBytes,
      shmMountPath: d.shmMountPath,
      shmMounted: state.status === "formed" && state.shmMounted,
      members: state.status === "formed" ? state.members : [],
    };
  }
  if (state.status !== "formed") throw new InternalError(`IPC group stream has ${event.type} before IpcGroupFormed`);
  switch (event.type) {
    case "ShmMountCreated":
      return { ...state, shmMounted: true, host: event.data.host, shmMountPath: event.data.path, shmSizeBytes: event.data.sizeBytes };
    case "ShmMountRemoved":
      return { ...state, shmMounted: false };
    case "IpcGroupMemberJoined":
      return state.members.includes(event.data.memberId) ? state : { ...state, members: [...state.members, event.data.memberId] };
    case "IpcGroupMemberLeft":
      return { ...state, members: state.members.filter((m) => m !== event.data.memberId) };
    default: {
      const never: never = event;
      throw new InternalError(`unknown IPC group event ${JSON.stringify(never)}`);
    }
  }
}

export const ipcGroupDecider: Decider<IpcGroupState, IpcGroupCommand, IpcGroupEvent> = { decide, evolve, initialState };
