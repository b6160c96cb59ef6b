export { startMountManager, PREPARE_DURABLE, RELEASE_DURABLE } from "./mount-manager";
export type { MountManager, MountManagerOptions } from "./mount-manager";
export type { ReconcileResult } from "./reconciler";
export type { ReconcilePlan, LoggedShmMount } from "./reconcile-plan";
export { readMountManagerConfig } from "./config";
export type { MountManagerEnvConfig } from "./config";
export { planIpc, shmMountPath } from "./ipc-planner";
export type { IpcPlanInput, IpcPlanning, IpcPlanConfig, IpcOwnerView, MountedShm } from "./ipc-planner";
export { IPC_GROUP_EVENT_SCHEMA_VERSIONS, ipcGroupDecider } from "./ipc-group-decider";
export type {
  IpcGroupEvent,
  IpcGroupCommand,
  IpcGroupState,
  IpcGroupFormed,
  IpcGroupMemberJoined,
  IpcGroupMemberLeft,
  ShmMountCreated,
  ShmMountRemoved,
} from "./ipc-group-decider";
