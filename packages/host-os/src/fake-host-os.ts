import { isAbsolute, normalize, posix } from "node:path";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from "@shoal/domain";
import type { HostOs, MountRequest, RecursiveReadOnlySupport, UnmountOptions } from "./host-os";
import { parseMountInfo, type MountInfoEntry } from "./mount-info";

/** One recorded call on a FakeHostOs, with its arguments. */
export type HostOsCall =
  | { readonly op: "mount"; readonly request: MountRequest }
  | { readonly op: "unmount"; readonly target: string; readonly options: UnmountOptions }
  | { readonly op: "readMountInfo" }
  | { readonly op: "makeShared"; readonly path: string }
  | { readonly op: "makeRShared"; readonly path: string }
  | { readonly op: "mkfifo"; readonly path: string; readonly mode: number }
  | { readonly op: "mkdirp"; readonly path: string; readonly mode: number | undefined }
  | { readonly op: "rmdir"; readonly path: string }
  | { readonly op: "rmrf"; readonly path: string }
  | { readonly op: "pathExists"; readonly path: string }
  | { readonly op: "appArmorEnabled" }
  | { readonly op: "loadAppArmorProfile"; readonly profileText: string }
  | { readonly op: "probeRecursiveReadOnly"; readonly scratchDir: string };

export type HostOsOp = HostOsCall["op"];

/**
 * An in-memory HostOs for unit tests of the agent's mount logic. It keeps a file tree
 * (directories and FIFOs) and a mount table, follows the same error contract as
 * `createHostOs()` (NotFound for a missing target, FailedPrecondition for a busy unmount
 * or removing below a mount, …), and records every call.
 *
 * Propagation is modelled as far as the agent cares: `shared`/`rshared` flags and
 * make-(r)shared give peer groups, and a new mount under a shared mount is shared.
 * Mounts are not visible through other paths (no real propagation between trees).
 */
export interface FakeHostOs extends HostOs {
  /** Every call in order, including calls that failed (injected or not). */
  readonly calls: readonly HostOsCall[];
  /** The next call of `op` rejects with `error` and changes nothing. Queued per op. */
  failNext(op: HostOsOp, error: Error): void;
  /** Every call for which `predicate` holds rejects with `error` and changes nothing, until the returned function is called. */
  failWhen(predicate: (call: HostOsCall) => boolean, error: Error): () => void;
  /** The current mount table (same as readMountInfo, without recording a call). */
  mountTable(): MountInfoEntry[];
  /** The texts loadAppArmorProfile accepted, in order (a failed load adds nothing). */
  readonly loadedAppArmorProfiles: readonly string[];
}

export interface FakeHostOsOptions {
  /** Directories that exist at the start (parents are implied). */
  readonly directories?: readonly string[];
  /** Propagation of the root mount; default private (as on this project's CI hosts). */
  readonly rootShared?: boolean;
  /** What appArmorEnabled answers; default false (as on this project's CI hosts). */
  readonly appArmorEnabled?: boolean;
  /** What probeRecursiveReadOnly answers; default supported (as on this project's CI hosts). */
  readonly recursiveReadOnly?: RecursiveReadOnlySupport;
}

interface FakeMount {
  mountId: number;
  parentId: number;
  major: number;
  minor: number;
  root: string;
  mountPoint: string;
  readOnly: boolean;
  perMount: string[];
  peerGroup: number | undefined;
  fsType: string;
  source: string;
  superOptions: string[];
}

export function createFakeHostOs(options: FakeHostOsOptions = {}): FakeHostOs {
  const files = new Map<string, "dir" | "fifo">([["/", "dir"]]);
  const calls: HostOsCall[] = [];
  const nextFailures = new Map<HostOsOp, Error[]>();
  const rules = new Set<{ predicate: (call: HostOsCall) => boolean; error: Error }>();
  let nextMountId = 100;
  let nextMinor = 100;
  let nextPeerGroup = 1;

  const mounts: FakeMount[] = [
    {
      mountId: 21,
      parentId: 1,
      major: 8,
      minor: 1,
      root: "/",
      mountPoint: "/",
      readOnly: false,
      perMount: ["relatime"],
      peerGroup: options.rootShared ? nextPeerGroup++ : undefined,
      fsType: "ext4",
      source: "/dev/root",
      superOptions: ["rw"],
    },
  ];

  for (const d of options.directories ?? []) addDirs(abs(d, "directory"));

  function addDirs(path: string): void {
    for (let p = path; ; p = posix.dirname(p)) {
      if (files.get(p) === "fifo") throw new FailedPreconditionError(`mkdir -p ${path}: ${p} is not a directory`);
      files.set(p, "dir");
      if (p === "/") break;
    }
  }

  function below(path: string, p: string): boolean {
    return p === path || p.startsWith(path === "/" ? "/" : `${path}/`);
  }

  /** The mount that a path resolves to: the most recent mount whose mount point is the longest prefix. */
  function mountOf(path: string): FakeMount {
    let best = mounts[0] as FakeMount;
    for (const m of mounts) if (below(m.mountPoint, path) && m.mountPoint.length >= best.mountPoint.length) best = m;
    return best;
  }

  function record(call: HostOsCall): void {
    calls.push(call);
    const queued = nextFailures.get(call.op);
    const injected = queued?.shift();
    if (injected) throw injected;
    for (const rule of rules) if (rule.predicate(call)) throw rule.error;
  }

  function render(): MountInfoEntry[] {
    const esc = (s: string) => s.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
    const text = mounts
      .map((m) =>
        [
          m.mountId,
          m.parentId,
          `${m.major}:${m.minor}`,
          esc(m.root),
          esc(m.mountPoint),
          [m.readOnly ? "ro" : "rw", ...m.perMount].join(","),
          ...(m.peerGroup !== undefined ? [`shared:${m.peerGroup}`] : []),
          "-",
          m.fsType,
          esc(m.source),
          m.superOptions.join(","),
        ].join(" "),
      )
      .join("\n");
    return parseMountInfo(text);
  }

  const loadedAppArmorProfiles: string[] = [];

  const fake: FakeHostOs = {
    calls,
    loadedAppArmorProfiles,
    failNext(op, error) {
      nextFailures.set(op, [...(nextFailures.get(op) ?? []), error]);
    },
    failWhen(predicate, error) {
      const rule = { predicate, error };
      rules.add(rule);
      return () => void rules.delete(rule);
    },
    mountTable: render,

    async mount(request) {
      record({ op: "mount", request });
      const target = abs(request.target, "mount target");
      const isBind = request.flags.includes("bind") || request.flags.includes("rbind");
      if (!isBind && !request.fstype) {
        throw new InvalidArgumentError(`mount ${target}: fstype is required unless flags include bind or rbind`);
      }
      if (!files.has(target)) throw new NotFoundError(`mount target ${target} does not exist`);
      const parent = mountOf(target);
      const perMount = ["nosuid", "nodev", "noexec"].filter((f) => request.flags.includes(f));
      perMount.push("relatime");
      const readOnly = request.flags.includes("ro");
      const wantsShared = request.flags.includes("shared") || request.flags.includes("rshared");
      const peerGroup = wantsShared || parent.peerGroup !== undefined ? nextPeerGroup++ : undefined;
      if (isBind) {
        const source = abs(request.source, "bind source");
        if (!files.has(source)) throw new NotFoundError(`mount ${source} on ${target}: special device ${source} does not exist`);
        const from = mountOf(source);
        const rel = posix.relative(from.mountPoint, source);
        mounts.push({
          ...from,
          superOptions: [...from.superOptions],
          mountId: nextMountId++,
          parentId: parent.mountId,
          root: rel === "" ? from.root : posix.join(from.root, rel),
          mountPoint: target,
          readOnly,
          perMount,
          peerGroup,
        });
      } else {
        mounts.push({
          mountId: nextMountId++,
          parentId: parent.mountId,
          major: 0,
          minor: nextMinor++,
          root: "/",
          mountPoint: target,
          readOnly,
          perMount,
          peerGroup,
          fsType: request.fstype as string,
          source: request.source,
          superOptions: [readOnly ? "ro" : "rw", ...(request.data ? request.data.split(",") : [])],
        });
      }
    },

    async unmount(target, unmountOptions = {}) {
      record({ op: "unmount", target, options: unmountOptions });
      const path = abs(target, "unmount target");
      const index = mounts.findLastIndex((m) => m.mountPoint === path);
      if (index <= 0) throw new NotFoundError(`unmount ${path}: not a mount point`);
      const victim = mounts[index] as FakeMount;
      const children = mounts.filter((m) => m.parentId === victim.mountId);
      if (children.length > 0 && !(unmountOptions.lazy || unmountOptions.detach)) {
        throw new FailedPreconditionError(`unmount ${path}: target is busy (EBUSY): mounts below it`);
      }
      const gone = new Set([victim.mountId]);
      for (const m of mounts) if (gone.has(m.parentId)) gone.add(m.mountId);
      for (let i = mounts.length - 1; i >= 0; i--) if (gone.has((mounts[i] as FakeMount).mountId)) mounts.splice(i, 1);
    },

    async readMountInfo() {
      record({ op: "readMountInfo" });
      return render();
    },

    async makeShared(path) {
      record({ op: "makeShared", path });
      const p = abs(path, "make-shared path");
      const m = mounts.findLast((x) => x.mountPoint === p);
      if (!m) throw new FailedPreconditionError(`make-shared ${p}: not a mount point`);
      m.peerGroup ??= nextPeerGroup++;
    },

    async makeRShared(path) {
      record({ op: "makeRShared", path });
      const p = abs(path, "make-rshared path");
      if (!mounts.some((x) => x.mountPoint === p)) throw new FailedPreconditionError(`make-rshared ${p}: not a mount point`);
      for (const m of mounts) if (below(p, m.mountPoint)) m.peerGroup ??= nextPeerGroup++;
    },

    async mkfifo(path, mode) {
      record({ op: "mkfifo", path, mode });
      const p = abs(path, "fifo path");
      if (files.has(p)) throw new AlreadyExistsError(`mkfifo ${p}: path exists`);
      if (files.get(posix.dirname(p)) !== "dir") throw new NotFoundError(`mkfifo ${p}: parent directory does not exist`);
      files.set(p, "fifo");
    },

    async mkdirp(path, mode) {
      record({ op: "mkdirp", path, mode });
      addDirs(abs(path, "directory"));
    },

    async rmdir(path) {
      record({ op: "rmdir", path });
      const p = abs(path, "directory");
      const kind = files.get(p);
      if (kind === undefined) throw new NotFoundError(`rmdir ${p}: no such directory`);
      if (kind !== "dir") throw new FailedPreconditionError(`rmdir ${p}: not a directory`);
      if (mounts.some((m) => m.mountPoint === p)) throw new FailedPreconditionError(`rmdir ${p}: is a mount point (EBUSY)`);
      for (const f of files.keys()) if (f !== p && below(p, f)) throw new FailedPreconditionError(`rmdir ${p}: not empty`);
      files.delete(p);
    },

    async rmrf(path) {
      record({ op: "rmrf", path });
      const p = abs(path, "path to remove");
      if (p === "/") throw new InvalidArgumentError("refusing to remove /");
      const under = mounts.filter((m) => below(p, m.mountPoint));
      if (under.length > 0) {
        throw new FailedPreconditionError(
          `refusing to remove ${p}: mounted at or below it: ${under.map((m) => m.mountPoint).join(", ")}`,
        );
      }
      for (const f of [...files.keys()]) if (below(p, f)) files.delete(f);
    },

    async pathExists(path) {
      record({ op: "pathExists", path });
      return files.has(abs(path, "path"));
    },

    async appArmorEnabled() {
      record({ op: "appArmorEnabled" });
      return options.appArmorEnabled ?? false;
    },

    async loadAppArmorProfile(profileText) {
      record({ op: "loadAppArmorProfile", profileText });
      loadedAppArmorProfiles.push(profileText);
    },

    async probeRecursiveReadOnly(scratchDir) {
      record({ op: "probeRecursiveReadOnly", scratchDir });
      abs(scratchDir, "rro probe directory");
      return options.recursiveReadOnly ?? { supported: true };
    },
  };
  return fake;
}

function abs(path: string, what: string): string {
  if (!isAbsolute(path)) throw new InvalidArgumentError(`${what} must be an absolute path, got ${JSON.stringify(path)}`);
  const n = normalize(path);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}
