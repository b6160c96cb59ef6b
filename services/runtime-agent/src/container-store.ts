import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { InternalError, InvalidArgumentError, type IpcPlan } from "@shoal/domain";
import type { Spec } from "@shoal/oci";

/** containerd's identifier rule; Shoal ids are 64 hex. */
const CONTAINER_ID = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

/** The runtime a container was started with, used for every later operation on it. */
export interface LockedInRuntime {
  /** The configured name (`runc`, `custom`, …). */
  readonly name: string;
  /** The configured binary. */
  readonly path: string;
  readonly args: readonly string[];
  /** What the shim runs: `path` itself, or the content-addressed wrapper when there are args. */
  readonly binaryPath: string;
}

export type ContainerRecordStatus = "starting" | "running" | "exited";

/** `<state-root>/containers/<id>/agent.json`: what the agent must know about a container across its own restarts. */
export interface ContainerRecord {
  readonly version: 1;
  readonly containerId: string;
  status: ContainerRecordStatus;
  readonly runtime: LockedInRuntime;
  readonly ipcPlan: IpcPlan;
  /** The OCI spec it was created with (exec processes inherit from it). */
  readonly spec: Spec;
  readonly logs: { readonly stdout: string; readonly stderr: string };
  pid?: number;
  startedAt?: string;
  /** The placement's epoch this copy was started under (StartContainer's `epoch`); a fencing Reconcile compares it. */
  epoch?: number;
  /** `--stop-on-disconnect` in ms: the agent stops the container once cut off from the control plane this long. */
  stopOnDisconnectMs?: number;
  /** The signal a stop sends first (StartContainer's `stopSignal`); absent: SIGTERM. */
  stopSignal?: string;
  /** The rootfs is the containerd snapshot keyed by the container id (an image's), removed with the container. */
  snapshot?: boolean;
  /** `cleanedUp`: the task and containerd container were deleted after the exit. */
  exit?: { exitCode: number; exitedAt: string; pid: number; reported: boolean; cleanedUp?: boolean };
}

/** Paths of one container below the state root. Callers must have checked the id (`checkContainerId`). */
export interface ContainerPaths {
  readonly dir: string;
  readonly record: string;
  readonly rootfs: string;
  readonly upper: string;
  readonly work: string;
  readonly mounts: string;
  /** An owner's shm tmpfs (DESIGN: shm mount). */
  readonly shm: string;
  readonly logs: string;
}

export function containerPaths(stateRoot: string, id: string): ContainerPaths {
  const dir = join(stateRoot, "containers", id);
  return {
    dir,
    record: join(dir, "agent.json"),
    rootfs: join(dir, "rootfs"),
    upper: join(dir, "rootfs", "upper"),
    work: join(dir, "rootfs", "work"),
    mounts: join(dir, "mounts"),
    shm: join(dir, "mounts", "shm"),
    logs: join(dir, "logs"),
  };
}

/** InvalidArgumentError unless `id` is a containerd identifier of at most 76 characters. */
export function checkContainerId(id: unknown): string {
  if (typeof id !== "string" || id.length > 76 || !CONTAINER_ID.test(id)) {
    throw new InvalidArgumentError(`container id ${JSON.stringify(id)} is not a valid id`);
  }
  return id;
}

/**
 * Reads and writes agent.json files; a write replaces the file atomically (temp + rename).
 * With synchronous calls: a record is a few kilobytes in the page cache, so each call blocks
 * for tens of microseconds, where the thread pool's round trips (mkdir, open, write, close,
 * rename) cost a start about a millisecond on a loaded 2-core host.
 */
export interface ContainerStore {
  /** undefined when the container has no record. InternalError for an unreadable one. */
  get(id: string): Promise<ContainerRecord | undefined>;
  put(record: ContainerRecord): Promise<void>;
  /** Removes the record only; a missing one is fine. */
  remove(id: string): Promise<void>;
  /** Every readable record; unreadable ones are returned in `broken` by id. */
  list(): Promise<{ records: ContainerRecord[]; broken: string[] }>;
}

export function createContainerStore(stateRoot: string): ContainerStore {
  const root = join(stateRoot, "containers");
  async function get(id: string): Promise<ContainerRecord | undefined> {
    const path = containerPaths(stateRoot, id).record;
    // A new container has no record: asked first, so that the common case builds no exception.
    if (!existsSync(path)) return undefined;
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new InternalError(`cannot read the record of container ${id}`, { cause: err });
    }
    try {
      return JSON.parse(text) as ContainerRecord;
    } catch (err) {
      throw new InternalError(`the record of container ${id} is not JSON`, { cause: err });
    }
  }
  return {
    get,
    async put(record) {
      const p = containerPaths(stateRoot, record.containerId);
      const tmp = `${p.record}.${randomBytes(4).toString("hex")}.tmp`;
      try {
        mkdirSync(p.dir, { recursive: true });
        writeFileSync(tmp, JSON.stringify(record, null, 2));
        renameSync(tmp, p.record);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw err;
      }
    },
    async remove(id) {
      rmSync(containerPaths(stateRoot, id).record, { force: true });
    },
    async list() {
      let ids: string[];
      try {
        ids = await readdir(root);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return { records: [], broken: [] };
        throw new InternalError(`cannot list ${root}`, { cause: err });
      }
      const records: ContainerRecord[] = [];
      const broken: string[] = [];
      for (const id of ids) {
        if (!CONTAINER_ID.test(id)) continue;
        try {
          const r = await get(id);
          if (r !== undefined) records.push(r);
        } catch {
          broken.push(id);
        }
      }
      return { records, broken };
    },
  };
}
