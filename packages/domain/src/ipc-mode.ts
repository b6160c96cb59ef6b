/**
 * IPC modes as a user writes them (`--ipc`), and the IPC plan a host carries out.
 * Parsing, validation and formatting live beside these types (owned by the domain).
 */
import { InvalidArgumentError } from "./errors";
import { normalizeContainerRef } from "./container-name";
import { assertNever } from "./assert-never";

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

/** The daemon default when `default-ipc-mode` is not configured. */
export const BUILTIN_DEFAULT_IPC_MODE: DefaultIpcMode = "private";

/**
 * Parses `--ipc` as Docker does: `""` (daemon default), `none`, `private`, `shareable`,
 * `host`, `container:<name-or-id>`. Matching is case-sensitive. The ref after
 * `container:` must be a valid container name or id; one leading `/` is stripped as
 * for names (so `container:/db` and `container:db` both parse to ref `db`).
 * Throws InvalidArgumentError `invalid IPC mode: <input>` for anything else,
 * including an empty ref (`container:`).
 */
export function parseIpcMode(s: string): IpcMode {
  switch (s) {
    case "":
      return { kind: "default" };
    case "none":
    case "private":
    case "shareable":
    case "host":
      return { kind: s };
  }
  if (s.startsWith("container:")) {
    const ref = normalizeContainerRef(s.slice("container:".length));
    if (ref !== undefined) return { kind: "container", ref };
  }
  throw new InvalidArgumentError(`invalid IPC mode: ${s}`);
}

/** The canonical text of a mode; `parseIpcMode(formatIpcMode(m))` equals `m`. */
export function formatIpcMode(m: IpcMode): string {
  switch (m.kind) {
    case "default":
      return "";
    case "none":
    case "private":
    case "shareable":
    case "host":
      return m.kind;
    case "container":
      return `container:${m.ref}`;
    default:
      return assertNever(m, "IPC mode");
  }
}

/**
 * Parses the daemon's `default-ipc-mode`. Only `private` and `shareable` are allowed;
 * anything else throws InvalidArgumentError `invalid default IPC mode: <s>`.
 */
export function parseDefaultIpcMode(s: string): DefaultIpcMode {
  if (s === "private" || s === "shareable") return s;
  throw new InvalidArgumentError(`invalid default IPC mode: ${s}`);
}

/**
 * The mode a container actually runs with. `requested === undefined` is a record made
 * before IPC modes existed: it behaves as `shareable` (as Docker's old containers do).
 * `default` takes the daemon default in force when the container starts.
 */
export function resolveIpcMode(requested: IpcMode | undefined, daemonDefault: DefaultIpcMode): ResolvedIpcMode {
  if (requested === undefined) return { kind: "shareable" };
  if (requested.kind === "default") return { kind: daemonDefault };
  return requested;
}

/** True when other containers may join this one's IPC namespace (it is an owner). */
export function isShareable(m: ResolvedIpcMode): boolean {
  return m.kind === "shareable";
}

/** The name or id of the owner a member joins, or undefined when the mode joins nobody. */
export function joinedContainerRef(m: IpcMode): string | undefined {
  return m.kind === "container" ? m.ref : undefined;
}
