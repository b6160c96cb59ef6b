/**
 * Events of an IPC group's stream (`ipc-group-<owner id>`), recorded by the mount-manager.
 * Wire contracts: add fields and new schema versions only.
 */
import type { DomainEvent } from "../decider";

export type IpcGroupFormed = DomainEvent<
  "IpcGroupFormed",
  { ownerId: string; host: string; shmSizeBytes: number; shmMountPath: string; formedAt: string }
>;
/**
 * The owner's shm tmpfs is ordered on `host`: from here the log counts it as mounted. The
 * owner's agent makes it as the first step of the start this was recorded for; a start that
 * fails there is released like any other (UnmountShm is a no-op where nothing was mounted).
 */
export type ShmMountCreated = DomainEvent<
  "ShmMountCreated",
  { ownerId: string; host: string; path: string; sizeBytes: number; createdAt: string }
>;
export type IpcGroupMemberJoined = DomainEvent<"IpcGroupMemberJoined", { ownerId: string; memberId: string; joinedAt: string }>;
/** `reason`: the container event that ended the membership (`ContainerExited`, …) or `reconcile`. */
export type IpcGroupMemberLeft = DomainEvent<
  "IpcGroupMemberLeft",
  { ownerId: string; memberId: string; reason: string; leftAt: string }
>;
/** The host agent has unmounted the owner's shm tmpfs (UnmountShm answered). */
export type ShmMountRemoved = DomainEvent<
  "ShmMountRemoved",
  { ownerId: string; host: string; path: string; removedAt: string }
>;

export type IpcGroupEvent = IpcGroupFormed | ShmMountCreated | IpcGroupMemberJoined | IpcGroupMemberLeft | ShmMountRemoved;

export const IPC_GROUP_EVENT_SCHEMA_VERSIONS: Readonly<Record<IpcGroupEvent["type"], number>> = {
  IpcGroupFormed: 1,
  ShmMountCreated: 1,
  IpcGroupMemberJoined: 1,
  IpcGroupMemberLeft: 1,
  ShmMountRemoved: 1,
};

export function isIpcGroupEventType(type: string): type is IpcGroupEvent["type"] {
  return Object.hasOwn(IPC_GROUP_EVENT_SCHEMA_VERSIONS, type);
}
