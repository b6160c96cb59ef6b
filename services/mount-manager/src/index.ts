// The mount-manager's public surface: start it in-process (tests, the local stack) and
// read its environment. Other services never import it; they read its tables (README).
export { startMountManager, PREPARE_DURABLE, RELEASE_DURABLE } from "./mount-manager";
export type { MountManager, MountManagerOptions } from "./mount-manager";
export type { ReconcileResult } from "./reconciler";
export type { ReconcilePlan, LoggedShmMount } from "./reconcile-plan";
export { readMountManagerConfig } from "./config";
export type { MountManagerEnvConfig } from "./config";
// The IPC group's event types are @shoal/domain's.
