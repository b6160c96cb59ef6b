/**
 * The client side of `helper/shoal-mount-helper.c`: one long-lived child process that makes
 * mount(2), umount2(2) and mount_setattr(2) calls for this process, so a mount costs a line written to a pipe
 * instead of a mount(8) spawned from Node (about 2.4 ms each on the project's 2-core VM, the
 * cost of a start's shm mount). Requests are answered in order; the caller maps errno.
 */
import { spawn } from "node:child_process";
import type { ChildProcessByStdio } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";

/** mount(2) flags (linux/mount.h) for mount(8)'s option words, as far as one call can carry them. */
const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  NOATIME: 1024,
  BIND: 4096,
  REC: 16384,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
} as const;
const MNT_DETACH = 2;
/** mount_setattr(2): make read-only (linux/mount.h), and apply to every mount below too (fcntl.h). */
export const MOUNT_ATTR_RDONLY = 1;
export const AT_RECURSIVE = 0x8000;

const WORDS: Record<string, number> = {
  rw: 0,
  ro: MS.RDONLY,
  nosuid: MS.NOSUID,
  nodev: MS.NODEV,
  noexec: MS.NOEXEC,
  noatime: MS.NOATIME,
  relatime: MS.RELATIME,
  strictatime: MS.STRICTATIME,
  bind: MS.BIND,
  rbind: MS.BIND | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
};
const PROPAGATION = MS.SHARED | MS.PRIVATE | MS.SLAVE;

/**
 * The mount(2) flags for mount(8) option words, or undefined where one mount(2) call does not
 * do what mount(8) does with them (an unknown word; `ro` with a bind, which mount(8) makes
 * with a second, remounting call; a propagation change mixed with anything else).
 */
export function mountFlags(words: readonly string[]): number | undefined {
  let flags = 0;
  for (const w of words) {
    const f = WORDS[w];
    if (f === undefined) return undefined;
    flags |= f;
  }
  if (flags & MS.BIND && flags & MS.RDONLY) return undefined;
  if (flags & PROPAGATION && (flags & ~(PROPAGATION | MS.REC)) !== 0) return undefined;
  return flags;
}

/** umount2(2) flags for an unmount. */
export function unmountFlags(opts: { lazy?: boolean; detach?: boolean }): number {
  return opts.lazy || opts.detach ? MNT_DETACH : 0;
}

/** What the kernel said no with. */
export class MountCallError extends Error {
  constructor(
    readonly errno: number,
    readonly strerror: string,
  ) {
    super(strerror);
    this.name = "MountCallError";
  }
}

export interface MountHelper {
  /** mount(2); rejects with MountCallError when the kernel refuses, Error when the helper is gone. */
  mount(source: string, target: string, fstype: string | undefined, flags: number, data: string | undefined): Promise<void>;
  /** umount2(2); rejects as `mount` does. */
  unmount(target: string, flags: number): Promise<void>;
  /** mount_setattr(2) on `path` setting `attrSet` (MOUNT_ATTR_*), with `atFlags` (AT_*); rejects as `mount` does. */
  setattr(path: string, attrSet: number, atFlags: number): Promise<void>;
  /** True when every field can go into a request line (no tab, no newline, not empty). */
  carries(...fields: (string | undefined)[]): boolean;
}

/**
 * Starts the helper at `binary`. It is restarted on the next call after it dies (what was
 * in flight then rejects). It holds this process open only while a call is in flight.
 */
export function startMountHelper(binary: string): MountHelper {
  type Pending = { resolve: () => void; reject: (err: Error) => void };
  let child: ChildProcessByStdio<Writable, Readable, null> | undefined;
  const pending = new Map<string, Pending>();
  let next = 0;

  const hold = (held: boolean) => {
    if (child === undefined) return;
    for (const h of [child, child.stdin, child.stdout] as { ref(): void; unref(): void }[]) {
      if (held) h.ref();
      else h.unref();
    }
  };

  const running = () => {
    if (child !== undefined) return child;
    const c = spawn(binary, [], { stdio: ["pipe", "pipe", "inherit"] });
    child = c;
    const gone = (why: string) => {
      if (child === c) child = undefined;
      for (const p of pending.values()) p.reject(new Error(`the mount helper ${binary} ${why}`));
      pending.clear();
    };
    c.on("error", (err) => gone(`failed: ${err.message}`));
    c.on("exit", (code, signal) => gone(`exited (${signal ?? code})`));
    c.stdin.on("error", () => undefined); // an exit mid-write is reported by 'exit'
    createInterface({ input: c.stdout }).on("line", (line) => {
      const [id, errno, ...message] = line.split("\t");
      const p = pending.get(id ?? "");
      if (p === undefined) return;
      pending.delete(id!);
      if (pending.size === 0) hold(false);
      if (errno === "0") p.resolve();
      else p.reject(new MountCallError(Number(errno), message.join("\t")));
    });
    return c;
  };

  const call = (fields: string[]) =>
    new Promise<void>((resolve, reject) => {
      const c = running();
      const id = String(++next);
      pending.set(id, { resolve, reject });
      hold(true);
      c.stdin.write(`${[fields[0], id, ...fields.slice(1)].join("\t")}\n`);
    });

  return {
    mount: (source, target, fstype, flags, data) => call(["m", source, target, fstype ?? "-", String(flags), data ?? "-"]),
    unmount: (target, flags) => call(["u", target, String(flags)]),
    setattr: (path, attrSet, atFlags) => call(["s", path, String(attrSet), String(atFlags)]),
    carries: (...fields) => fields.every((f) => f === undefined || (f !== "" && f !== "-" && !/[\t\n]/.test(f))),
  };
}
