import type { MountInfoEntry } from "./mount-info";

/**
 * One mount(2) request.
 *
 * `flags` are mount(8) option words: `ro`, `rw`, `nosuid`, `nodev`, `noexec`,
 * `bind`, `rbind`, and propagation words (`shared`, `rshared`, `private`,
 * `rprivate`, `slave`, `rslave`). `data` is the filesystem-specific part
 * (`mode=1777,size=1m` for tmpfs, `lowerdir=…,upperdir=…,workdir=…` for overlay).
 * For a bind (`bind`/`rbind` in flags) `fstype` is ignored.
 */
export interface MountRequest {
  readonly source: string;
  readonly target: string;
  readonly fstype?: string;
  readonly flags: readonly string[];
  readonly data?: string;
}

export interface UnmountOptions {
  /** MNT_DETACH (`umount -l`): detach now, clean up when no longer busy. */
  readonly lazy?: boolean;
  /** Same flag as `lazy` (the kernel has one); accepted for callers that say "detach". */
  readonly detach?: boolean;
}

/**
 * Whether this kernel can make a mount and every mount below it read-only (mount_setattr(2)
 * with MOUNT_ATTR_RDONLY and AT_RECURSIVE, Linux 5.12+), and if not, why in words for a user.
 */
export type RecursiveReadOnlySupport = { readonly supported: true } | { readonly supported: false; readonly reason: string };

/**
 * The system calls the runtime agent needs, behind one narrow interface so its
 * logic can be tested against `createFakeHostOs()` and the real thing tested as root.
 *
 * Every method rejects only with `@shoal/domain` errors:
 * - NotFoundError: a path the call needs does not exist (or, for unmount, is not a mount point);
 * - AlreadyExistsError: the path to create exists already (mkfifo);
 * - FailedPreconditionError: the system refuses in its current state (busy, permission, not empty, mounts below);
 * - InvalidArgumentError: a relative path or a request that can never succeed;
 * - InternalError: anything else, with the tool's stderr as message and the failure as `cause`.
 * All paths must be absolute.
 */
export interface HostOs {
  /** Mounts `source` on `target`. The target must exist (NotFoundError otherwise). */
  mount(request: MountRequest): Promise<void>;
  /**
   * Unmounts the topmost mount at `target`.
   * NotFoundError when `target` does not exist or is not a mount point (so callers
   * cleaning up may treat it as done); FailedPreconditionError "target is busy (EBUSY)"
   * when a process still uses it — the mount then stays.
   */
  unmount(target: string, options?: UnmountOptions): Promise<void>;
  /** The calling process's mount table (/proc/self/mountinfo), parsed. */
  readMountInfo(): Promise<MountInfoEntry[]>;
  /** Makes the mount at `path` shared (`mount --make-shared`). `path` must be a mount point. */
  makeShared(path: string): Promise<void>;
  /** Makes the mount at `path` and every mount below it shared (`mount --make-rshared`). */
  makeRShared(path: string): Promise<void>;
  /**
   * Creates a FIFO at `path` with permission bits `mode` (e.g. 0o600; the umask does
   * not apply). AlreadyExistsError if anything is at `path`; NotFoundError if the parent is missing.
   */
  mkfifo(path: string, mode: number): Promise<void>;
  /** Creates `path` and missing parents (`mkdir -p`); existing directories are fine. */
  mkdirp(path: string, mode?: number): Promise<void>;
  /** Removes an empty directory. NotFoundError if missing; FailedPreconditionError if not empty or a mount point. */
  rmdir(path: string): Promise<void>;
  /**
   * Removes `path` and everything below it; a missing path is fine.
   * Refuses with FailedPreconditionError, removing nothing, when anything is mounted
   * at or below `path` — deleting through a live mount would destroy data that is not
   * the state dir's (an owner's shm, a host bind). Refuses "/" with InvalidArgumentError.
   */
  rmrf(path: string): Promise<void>;
  /** Whether anything (file, dir, FIFO, dangling symlink) is at `path`. Never rejects for ENOENT. */
  pathExists(path: string): Promise<boolean>;
  /**
   * Whether AppArmor is enabled in the running kernel (`/sys/module/apparmor/parameters/enabled`
   * reads `Y`). False, never a rejection, where the module is absent.
   */
  appArmorEnabled(): Promise<boolean>;
  /**
   * Loads the AppArmor policy `profileText` (apparmor.d(5) syntax) into the kernel, replacing a
   * loaded profile of the same name: `apparmor_parser -Kr` with the text on stdin, writing no cache.
   * Resolves once the kernel has it, so a process started after may name it.
   * FailedPreconditionError when apparmor_parser is not installed or is not allowed to load
   * policy; InternalError with the parser's message when it refuses the text or the kernel does.
   */
  loadAppArmorProfile(profileText: string): Promise<void>;
  /**
   * Asks the kernel, not its version, whether recursive read-only mounts work: mounts a scratch
   * tmpfs at `scratchDir` (created when missing), calls mount_setattr(2) on it with
   * MOUNT_ATTR_RDONLY and AT_RECURSIVE, then unmounts it and removes the directory.
   * `{supported: false, reason}` when the kernel refuses the call (ENOSYS before Linux 5.12) or
   * when it cannot be made from here (Shoal's mount helper could not be compiled: Node has no
   * binding for it). Rejects as `mount` does when the scratch tmpfs cannot be mounted.
   */
  probeRecursiveReadOnly(scratchDir: string): Promise<RecursiveReadOnlySupport>;
}
