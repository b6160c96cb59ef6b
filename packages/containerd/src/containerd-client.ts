import type { ContainerdEvents } from "./event-stream";
import type { ExitStatus } from "./exit-tracker";
import type { ContentStore, DiffService, ImageStore, LeaseManager, Snapshotter } from "./image-services";
import type { RpcCounts } from "./rpc-channel";

/**
 * A containerd client bound to one socket and one containerd namespace. Objects keep what
 * they were told or were given by containerd (a Task knows its pid from Tasks.Create), so
 * an operation never re-reads it. Every failed call rejects with a `@shoal/domain` error
 * (NotFoundError, AlreadyExistsError, FailedPreconditionError, InvalidArgumentError,
 * UnavailableError, InternalError) whose `cause` is the gRPC error.
 */
export interface ContainerdClient {
  /** The containerd namespace every call is made in. */
  readonly namespace: string;
  /** The shared events stream (one Events.Subscribe for the whole client). */
  readonly events: ContainerdEvents;
  /** containerd's content store (blobs by digest), for pulls and saves. See image-services.ts for garbage collection. */
  readonly content: ContentStore;
  /** containerd's image records (name → root descriptor). */
  readonly images: ImageStore;
  /** Layer application onto snapshot mounts (Diff.Apply). */
  readonly diff: DiffService;
  /** Leases that keep what a pull or unpack creates until it is referenced. */
  readonly leases: LeaseManager;
  /** The snapshots of one snapshotter; default "overlayfs". Makes no call. */
  snapshots(snapshotter?: string): Snapshotter;

  /**
   * Containers.Create. Records metadata only; nothing runs until `newTask`.
   * InvalidArgumentError for an id containerd would refuse; AlreadyExistsError when the id is taken.
   */
  createContainer(opts: CreateContainerOptions): Promise<Container>;
  /** Containers.Get. NotFoundError when there is no such container. */
  loadContainer(id: string): Promise<Container>;
  /** Containers.List; `filters` use containerd's filter syntax (any may match), none returns all. */
  listContainers(filters?: string[]): Promise<Container[]>;
  /**
   * Tasks.List: every task of the namespace, re-attached (its exit is watched from now on),
   * for an agent that restarts and adopts what is running.
   */
  listTasks(): Promise<LoadedTask[]>;
  /** Tasks.Get of a container's task, re-attached. NotFoundError when the container has no task. */
  loadTask(containerId: string): Promise<Task>;

  /** RPCs made by this client since it connected, keyed `Service/Method`. */
  rpcCounts(): RpcCounts;
  /**
   * Runs `fn` and counts the RPCs it (and only it, even with concurrent operations) made.
   * Exits delivered by the events stream cost none.
   */
  countRpcs<T>(fn: () => Promise<T>): Promise<{ result: T; rpcs: RpcCounts; total: number }>;
  /** Ends the events stream and the connection; pending waits reject with UnavailableError. */
  close(): void;
}

export interface ConnectContainerdOptions {
  /** Path of containerd's gRPC unix socket, e.g. `/run/containerd/containerd.sock`. */
  socket: string;
  /** containerd namespace (Shoal uses `shoal`). */
  namespace: string;
  /** Deadline of each unary call, and of the events stream becoming live; default 30 000. */
  rpcTimeoutMs?: number;
}

/** `containerd.runc.v1.Options` for the `io.containerd.runc.v2` runtime. */
export interface RuncOptions {
  /** runc binary to use; default `runc` on containerd's PATH. */
  binaryName?: string;
  /** runc's state directory. Give each containerd on a host its own (see containerd-notes). */
  root?: string;
  systemdCgroup?: boolean;
  noPivotRoot?: boolean;
  noNewKeyring?: boolean;
  shimCgroup?: string;
  ioUid?: number;
  ioGid?: number;
  criuImagePath?: string;
  criuWorkPath?: string;
}

/** `containerd.runc.v1.CheckpointOptions`. */
export interface RuncCheckpointOptions {
  exit?: boolean;
  openTcp?: boolean;
  externalUnixSockets?: boolean;
  terminal?: boolean;
  fileLocks?: boolean;
  emptyNamespaces?: string[];
  cgroupsMode?: string;
  imagePath?: string;
  workPath?: string;
}

export interface RuntimeConfig {
  /** Default `io.containerd.runc.v2`. */
  name?: string;
  options?: RuncOptions;
}

export interface CreateContainerOptions {
  /** Must match `^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$` (Shoal uses 64 hex). */
  id: string;
  /** The OCI runtime spec; sent as JSON. */
  spec: object;
  runtime?: RuntimeConfig;
  labels?: Record<string, string>;
}

/** A mount as mount(2) takes it; for a rootfs, the target is empty. */
export interface Mount {
  type: string;
  source: string;
  target?: string;
  options?: string[];
}

/**
 * Where a process's stdio goes. Both `stdout` and `stderr` are set, or neither:
 * `file:///abs/path` (the shim creates and appends; never the same file for both), a FIFO
 * path (the caller creates it), `binary:///abs/logger?k=v` (containerd's logging protocol:
 * the logger gets stdout on fd 3, stderr on fd 4; the same URI for both), or "" for none.
 */
export interface Stdio {
  stdin?: string;
  stdout: string;
  stderr: string;
  terminal?: boolean;
}

export interface NewTaskOptions extends Stdio {
  /** Mounts making up the rootfs (e.g. one overlay) when the spec's `root.path` is relative ("rootfs"). */
  rootfs?: Mount[];
  /** Task-level runtime options; the container's runtime options apply when absent. */
  runtimeOptions?: RuncOptions;
}

export interface ExecOptions extends Stdio {
  /** Unique among the task's live exec processes; same syntax as container ids. */
  execId: string;
  /** The OCI process spec (args, env, cwd, user, …); sent as JSON. */
  spec: object;
}

export interface ContainerInfo {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly runtime: { readonly name: string; readonly options?: RuncOptions };
  /** The OCI spec as stored in containerd. */
  readonly spec: Readonly<Record<string, unknown>>;
  readonly createdAt?: Date;
}

export interface Container extends ContainerInfo {
  /**
   * Tasks.Create: creates the init process (not started; its namespaces exist and `pid` is
   * known). The exit is watched from here on, so `wait()` can be called before or after
   * `start()`. AlreadyExistsError when the container already has a task.
   */
  newTask(opts: NewTaskOptions): Promise<Task>;
  /** Tasks.Get: re-attaches to this container's task. NotFoundError when there is none. */
  loadTask(): Promise<Task>;
  /**
   * Containers.Delete. FailedPreconditionError without a call when a task this object
   * created has not been deleted (containerd would orphan it); NotFoundError when gone.
   */
  delete(): Promise<void>;
}

export type TaskStatus = "unknown" | "created" | "running" | "stopped" | "paused" | "pausing";

export interface ProcessState {
  status: TaskStatus;
  pid: number;
  /** Set when status is "stopped". */
  exit?: ExitStatus;
}

export interface LoadedTask {
  task: Task;
  state: ProcessState;
}

export interface Task {
  readonly containerId: string;
  /**
   * The init process's host pid, from Tasks.Create (or the Tasks.Get/List that loaded it);
   * for a restore (runtime options with `criuImagePath`), 0 until `start()` restored it.
   */
  readonly pid: number;
  /** Tasks.Start of the init process. */
  start(): Promise<void>;
  /**
   * Resolves when the init process exits; no RPC while the events stream is live. Rejects
   * with NotFoundError if the task is deleted before its exit is seen, UnavailableError if
   * the client closes.
   */
  wait(): Promise<ExitStatus>;
  /** Tasks.Kill of the init process (`all`: every process of the container). Signal as number or name ("SIGTERM"). */
  kill(signal: number | NodeJS.Signals, opts?: { all?: boolean }): Promise<void>;
  /** Tasks.Pause (freezes the cgroup). */
  pause(): Promise<void>;
  /** Tasks.Resume. */
  resume(): Promise<void>;
  /** Tasks.Get. */
  state(): Promise<ProcessState>;
  /** Tasks.ListPids: host pids of every process in the container. */
  pids(): Promise<number[]>;
  /** Tasks.Exec: creates (does not start) an exec process. AlreadyExistsError for a taken exec id. */
  exec(opts: ExecOptions): Promise<Process>;
  /** Tasks.Get with an exec id: re-attaches to an exec process. */
  loadProcess(execId: string): Promise<Process>;
  /** Tasks.Checkpoint (needs a working CRIU). */
  checkpoint(opts?: { parentCheckpoint?: string; options?: RuncCheckpointOptions }): Promise<CheckpointDescriptor[]>;
  /**
   * Tasks.Delete: removes the stopped task (and its rootfs mounts) and returns how it exited.
   * FailedPreconditionError while it still runs: kill and wait first.
   */
  delete(): Promise<ExitStatus>;
}

export interface Process {
  readonly containerId: string;
  readonly execId: string;
  /** 0 until started. */
  readonly pid: number;
  /** Tasks.Start with the exec id; returns the pid. */
  start(): Promise<number>;
  /** As Task.wait, for this exec process. */
  wait(): Promise<ExitStatus>;
  /** Tasks.Kill with the exec id. */
  kill(signal: number | NodeJS.Signals): Promise<void>;
  /** Tasks.DeleteProcess: removes the exited process and returns how it exited. */
  delete(): Promise<ExitStatus>;
}

export interface CheckpointDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
}
