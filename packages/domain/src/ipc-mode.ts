/**
 * IPC modes as a user writes them (`--ipc`), and the IPC plan a host carries out.
 * Parsing, validation and formatting live beside these types (owned by the domain).
 */

/** A container's requested IPC mode. `default` is the empty string: "use the daemon default". */
export type IpcMode =
  | { kind: "default" }
  | { kind: "none" }
  | { kind: "private" }
  | { kind: "shareable" }
  | { kind: "host" }
  | { kind: "container"; ref: string };

/** An IPC mode after the daemon default has been applied: never `default`. */
export type ResolvedIpcMode = Exclude<IpcMode, { kind: "default" }>;

/** The daemon default may only be one of these (built-in: private). */
export type DefaultIpcMode = "private" | "shareable";

/**
 * What a host must set up for one container's IPC namespace and /dev/shm, decided by
 * the control plane (mount-manager) and carried out by the runtime agent.
 * `shmMountPath` is the host path of the owner's shm tmpfs
 * (`<state-root>/containers/<owner-id>/mounts/shm`).
 */
export type IpcPlan =
  | { mode: "none" }
  | { mode: "private"; shmSizeBytes: number }
  | { mode: "shareable"; shmSizeBytes: number; shmMountPath: string }
  | { mode: "host" }
  | { mode: "container"; ownerId: string; ownerPid: number; shmSizeBytes: number; shmMountPath: string };
