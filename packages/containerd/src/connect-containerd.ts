import { constants } from "node:os";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError, isShoalError } from "@shoal/domain";
import type {
  CheckpointDescriptor,
  ConnectContainerdOptions,
  Container,
  ContainerdClient,
  CreateContainerOptions,
  ExecOptions,
  LoadedTask,
  NewTaskOptions,
  Process,
  ProcessState,
  RuncCheckpointOptions,
  RuncOptions,
  Stdio,
  Task,
  TaskStatus,
} from "./containerd-client";
import { contentStore } from "./content-store";
import { diffService } from "./diff-service";
import { EventStream } from "./event-stream";
import type { ContainerdEvent, ContainerdEvents } from "./event-stream";
import { ExitTracker } from "./exit-tracker";
import type { ExitStatus, ProcessKey } from "./exit-tracker";
import type { Container__Output } from "./generated/containerd/services/containers/v1/Container";
import type { Process__Output } from "./generated/containerd/v1/types/Process";
import type { ContentStore, DiffService, ImageStore, LeaseManager, Snapshotter } from "./image-services";
import { imageStore } from "./image-store";
import { leaseManager } from "./lease-manager";
import { packAny, toDate, unpackAny } from "./proto";
import { RpcChannel } from "./rpc-channel";
import type { RpcCounts } from "./rpc-channel";
import { snapshotter } from "./snapshotter";

const DEFAULT_RUNTIME = "io.containerd.runc.v2";
const SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
const PROCESS_SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process";
const RUNC_OPTIONS = "containerd.runc.v1.Options";
const RUNC_CHECKPOINT_OPTIONS = "containerd.runc.v1.CheckpointOptions";
/** containerd's identifier rule for namespaces, container ids and exec ids. */
const IDENTIFIER = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

/**
 * Connects to containerd at `socket` and resolves once the shared events stream is live,
 * so no exit of a task created through this client can be missed.
 *
 * InvalidArgumentError for a malformed namespace; UnavailableError when containerd does
 * not answer within `rpcTimeoutMs`. The caller must `close()` the client.
 */
export async function connectContainerd(opts: ConnectContainerdOptions): Promise<ContainerdClient> {
  if (!IDENTIFIER.test(opts.namespace)) {
    throw new InvalidArgumentError(`containerd namespace ${JSON.stringify(opts.namespace)} must match ${IDENTIFIER.source}`);
  }
  const client = new Client(opts);
  try {
    await client.start();
  } catch (cause) {
    client.close();
    throw new UnavailableError(`containerd at ${opts.socket} did not answer: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
  return client;
}

class Client implements ContainerdClient {
  readonly namespace: string;
  readonly channel: RpcChannel;
  readonly exits = new ExitTracker();
  readonly content: ContentStore;
  readonly images: ImageStore;
  readonly diff: DiffService;
  readonly leases: LeaseManager;
  private readonly stream: EventStream;

  constructor(opts: ConnectContainerdOptions) {
    const timeout = opts.rpcTimeoutMs ?? 30_000;
    this.namespace = opts.namespace;
    this.channel = new RpcChannel(opts.socket, opts.namespace, timeout);
    this.content = contentStore(this.channel);
    this.images = imageStore(this.channel);
    this.diff = diffService(this.channel);
    this.leases = leaseManager(this.channel);
    this.stream = new EventStream(
      this.channel,
      opts.namespace,
      timeout,
      (e) => this.intake(e),
      () => void this.recheckUnresolved(),
    );
  }

  get events(): ContainerdEvents {
    return this.stream;
  }

  start(): Promise<void> {
    return this.stream.start();
  }

  snapshots(name = "overlayfs"): Snapshotter {
    return snapshotter(this.channel, name);
  }

  async createContainer(opts: CreateContainerOptions): Promise<Container> {
    checkId("container id", opts.id);
    const runtimeName = opts.runtime?.name ?? DEFAULT_RUNTIME;
    const res = await this.channel.unary("Containers/Create", {
      container: {
        id: opts.id,
        labels: opts.labels ?? {},
        runtime: {
          name: runtimeName,
          options: opts.runtime?.options === undefined ? null : packAny(RUNC_OPTIONS, { ...opts.runtime.options }),
        },
        spec: { type_url: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(opts.spec)) },
      },
    });
    if (res.container === null) throw new NotFoundError(`Containers.Create returned no container for ${opts.id}`);
    return new ContainerImpl(this, res.container);
  }

  async loadContainer(id: string): Promise<Container> {
    const res = await this.channel.unary("Containers/Get", { id });
    if (res.container === null) throw new NotFoundError(`container ${id} not found`);
    return new ContainerImpl(this, res.container);
  }

  async listContainers(filters: string[] = []): Promise<Container[]> {
    const res = await this.channel.unary("Containers/List", { filters });
    return res.containers.map((c) => new ContainerImpl(this, c));
  }

  async listTasks(): Promise<LoadedTask[]> {
    const res = await this.channel.unary("Tasks/List", {});
    return res.tasks.map((p) => {
      const state = processState(p);
      // containerd 1.6 fills only `id` (the container id) in Tasks.List results.
      return { task: this.attachTask(p.containerId || p.id, state), state };
    });
  }

  async loadTask(containerId: string): Promise<Task> {
    const res = await this.channel.unary("Tasks/Get", { containerId });
    if (res.process === null) throw new NotFoundError(`task ${containerId} not found`);
    return this.attachTask(containerId, processState(res.process));
  }

  /** Watches a task containerd already has, recording its exit if it already exited. */
  attachTask(containerId: string, state: ProcessState): Task {
    const key = { containerId, execId: "" };
    this.exits.watch(key, state.pid);
    if (state.exit !== undefined) this.exits.record(key, state.pid, state.exit);
    return new TaskImpl(this, containerId, state.pid);
  }

  rpcCounts(): RpcCounts {
    return this.channel.counts();
  }

  countRpcs<T>(fn: () => Promise<T>): Promise<{ result: T; rpcs: RpcCounts; total: number }> {
    return this.channel.count(fn);
  }

  close(): void {
    this.stream.close();
    this.exits.rejectAll(new UnavailableError("containerd client closed"));
    this.channel.close();
  }

  waitFor(key: ProcessKey): Promise<ExitStatus> {
    return this.exits.wait(key, () => new NotFoundError(`${describe(key)} is not known to this client (deleted, or never created or loaded)`));
  }

  private intake(event: ContainerdEvent): void {
    if (event.type === "task-exit") {
      this.exits.record(event, event.pid, { exitStatus: event.exitStatus, exitedAt: event.exitedAt });
    }
  }

  /** After the stream was down: one Tasks.Get per watched process whose exit has not been seen. */
  private async recheckUnresolved(): Promise<void> {
    for (const key of this.exits.unresolved()) {
      try {
        const res = await this.channel.unary("Tasks/Get", { containerId: key.containerId, execId: key.execId });
        if (res.process === null) continue;
        const state = processState(res.process);
        if (state.exit !== undefined) this.exits.record(key, state.pid, state.exit);
      } catch (err) {
        if (isShoalError(err) && err.code === "NOT_FOUND") {
          this.exits.unwatch(key, new NotFoundError(`${describe(key)} disappeared while the events stream was down`, { cause: err }));
        }
        // Other failures: the stream is likely broken again and the next reconnect re-checks.
      }
    }
  }
}

class ContainerImpl implements Container {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly runtime: { readonly name: string; readonly options?: RuncOptions };
  readonly spec: Readonly<Record<string, unknown>>;
  readonly createdAt?: Date;
  /** The task this object created and has not deleted. */
  task: TaskImpl | undefined;

  constructor(
    private readonly client: Client,
    c: Container__Output,
  ) {
    this.id = c.id;
    this.labels = c.labels;
    const options = c.runtime?.options ? unpackAny(c.runtime.options)?.value : undefined;
    this.runtime = { name: c.runtime?.name ?? "", ...(options === undefined ? {} : { options: options as RuncOptions }) };
    this.spec = c.spec && c.spec.value.length > 0 ? (JSON.parse(c.spec.value.toString("utf8")) as Record<string, unknown>) : {};
    const createdAt = toDate(c.createdAt);
    if (createdAt !== undefined) this.createdAt = createdAt;
  }

  async newTask(opts: NewTaskOptions): Promise<Task> {
    checkStdio(opts);
    const res = await this.client.channel.unary("Tasks/Create", {
      containerId: this.id,
      rootfs: (opts.rootfs ?? []).map((m) => ({ type: m.type, source: m.source, target: m.target ?? "", options: m.options ?? [] })),
      stdin: opts.stdin ?? "",
      stdout: opts.stdout,
      stderr: opts.stderr,
      terminal: opts.terminal ?? false,
      options: opts.runtimeOptions === undefined ? null : packAny(RUNC_OPTIONS, { ...opts.runtimeOptions }),
    });
    const key = { containerId: this.id, execId: "" };
    // A previous incarnation with this id is gone (containerd refuses a second task).
    this.client.exits.unwatch(key);
    this.client.exits.watch(key, res.pid);
    const task = new TaskImpl(this.client, this.id, res.pid, this);
    this.task = task;
    return task;
  }

  loadTask(): Promise<Task> {
    return this.client.loadTask(this.id);
  }

  async delete(): Promise<void> {
    if (this.task !== undefined) {
      throw new FailedPreconditionError(`container ${this.id} still has a task: delete the task first (containerd would orphan it)`);
    }
    await this.client.channel.unary("Containers/Delete", { id: this.id });
  }
}

class TaskImpl implements Task {
  constructor(
    private readonly client: Client,
    readonly containerId: string,
    public pid: number,
    private readonly owner?: ContainerImpl,
  ) {}

  async start(): Promise<void> {
    const res = await this.client.channel.unary("Tasks/Start", { containerId: this.containerId, execId: "" });
    // A restored task has no process until Tasks.Start restores it: its pid comes from here.
    if (this.pid === 0 && res.pid > 0) {
      this.pid = res.pid;
      this.client.exits.watch({ containerId: this.containerId, execId: "" }, res.pid);
    }
  }

  wait(): Promise<ExitStatus> {
    return this.client.waitFor({ containerId: this.containerId, execId: "" });
  }

  async kill(signal: number | NodeJS.Signals, opts: { all?: boolean } = {}): Promise<void> {
    await this.client.channel.unary("Tasks/Kill", {
      containerId: this.containerId,
      execId: "",
      signal: signalNumber(signal),
      all: opts.all ?? false,
    });
  }

  async pause(): Promise<void> {
    await this.client.channel.unary("Tasks/Pause", { containerId: this.containerId });
  }

  async resume(): Promise<void> {
    await this.client.channel.unary("Tasks/Resume", { containerId: this.containerId });
  }

  async state(): Promise<ProcessState> {
    const res = await this.client.channel.unary("Tasks/Get", { containerId: this.containerId, execId: "" });
    if (res.process === null) throw new NotFoundError(`task ${this.containerId} not found`);
    const state = processState(res.process);
    if (state.exit !== undefined) this.client.exits.record({ containerId: this.containerId, execId: "" }, state.pid, state.exit);
    return state;
  }

  async pids(): Promise<number[]> {
    const res = await this.client.channel.unary("Tasks/ListPids", { containerId: this.containerId });
    return res.processes.map((p) => p.pid);
  }

  async exec(opts: ExecOptions): Promise<Process> {
    checkId("exec id", opts.execId);
    checkStdio(opts);
    await this.client.channel.unary("Tasks/Exec", {
      containerId: this.containerId,
      execId: opts.execId,
      stdin: opts.stdin ?? "",
      stdout: opts.stdout,
      stderr: opts.stderr,
      terminal: opts.terminal ?? false,
      spec: { type_url: PROCESS_SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(opts.spec)) },
    });
    const key = { containerId: this.containerId, execId: opts.execId };
    this.client.exits.unwatch(key);
    this.client.exits.watch(key, 0);
    return new ProcessImpl(this.client, this.containerId, opts.execId, 0);
  }

  async loadProcess(execId: string): Promise<Process> {
    const res = await this.client.channel.unary("Tasks/Get", { containerId: this.containerId, execId });
    if (res.process === null) throw new NotFoundError(`process ${execId} of task ${this.containerId} not found`);
    const state = processState(res.process);
    const key = { containerId: this.containerId, execId };
    this.client.exits.watch(key, state.pid);
    if (state.exit !== undefined) this.client.exits.record(key, state.pid, state.exit);
    return new ProcessImpl(this.client, this.containerId, execId, state.pid);
  }

  async checkpoint(opts: { parentCheckpoint?: string; options?: RuncCheckpointOptions } = {}): Promise<CheckpointDescriptor[]> {
    const res = await this.client.channel.unary("Tasks/Checkpoint", {
      containerId: this.containerId,
      parentCheckpoint: opts.parentCheckpoint ?? "",
      options: opts.options === undefined ? null : packAny(RUNC_CHECKPOINT_OPTIONS, { ...opts.options }),
    });
    return res.descriptors.map((d) => ({ mediaType: d.mediaType, digest: d.digest, size: Number(d.size), annotations: d.annotations }));
  }

  async delete(): Promise<ExitStatus> {
    const res = await this.client.channel.unary("Tasks/Delete", { containerId: this.containerId });
    const key = { containerId: this.containerId, execId: "" };
    const exit = { exitStatus: res.exitStatus, exitedAt: toDate(res.exitedAt) ?? new Date() };
    // Waiters still pending get the exit containerd just reported.
    this.client.exits.record(key, res.pid, exit);
    this.client.exits.unwatch(key);
    if (this.owner?.task === this) this.owner.task = undefined;
    return exit;
  }
}

class ProcessImpl implements Process {
  constructor(
    private readonly client: Client,
    readonly containerId: string,
    readonly execId: string,
    public pid: number,
  ) {}

  async start(): Promise<number> {
    const res = await this.client.channel.unary("Tasks/Start", { containerId: this.containerId, execId: this.execId });
    this.pid = res.pid;
    this.client.exits.watch({ containerId: this.containerId, execId: this.execId }, res.pid);
    return res.pid;
  }

  wait(): Promise<ExitStatus> {
    return this.client.waitFor({ containerId: this.containerId, execId: this.execId });
  }

  async kill(signal: number | NodeJS.Signals): Promise<void> {
    await this.client.channel.unary("Tasks/Kill", {
      containerId: this.containerId,
      execId: this.execId,
      signal: signalNumber(signal),
      all: false,
    });
  }

  async delete(): Promise<ExitStatus> {
    const res = await this.client.channel.unary("Tasks/DeleteProcess", { containerId: this.containerId, execId: this.execId });
    const key = { containerId: this.containerId, execId: this.execId };
    const exit = { exitStatus: res.exitStatus, exitedAt: toDate(res.exitedAt) ?? new Date() };
    this.client.exits.record(key, res.pid, exit);
    this.client.exits.unwatch(key);
    return exit;
  }
}

function processState(p: Process__Output): ProcessState {
  const status = p.status.toLowerCase() as TaskStatus;
  const state: ProcessState = { status, pid: p.pid };
  if (status === "stopped") state.exit = { exitStatus: p.exitStatus, exitedAt: toDate(p.exitedAt) ?? new Date(0) };
  return state;
}

function checkId(what: string, id: string): void {
  if (!IDENTIFIER.test(id)) throw new InvalidArgumentError(`${what} ${JSON.stringify(id)} must match ${IDENTIFIER.source}`);
}

function checkStdio(stdio: Stdio): void {
  if ((stdio.stdout === "") !== (stdio.stderr === "")) {
    // containerd 1.6's shim crashes on a file:// stdout without stderr, and a lone FIFO blocks.
    throw new InvalidArgumentError("set both stdout and stderr, or neither");
  }
  // A binary:// logger receives both streams from the stdout URI alone, so the two may be equal.
  if (stdio.stdout !== "" && stdio.stdout === stdio.stderr && !stdio.stdout.startsWith("binary://")) {
    throw new InvalidArgumentError("stdout and stderr must differ: the shim loses stderr when both name the same path");
  }
}

function signalNumber(signal: number | NodeJS.Signals): number {
  if (typeof signal === "number") return signal;
  const n = constants.signals[signal];
  if (n === undefined) throw new InvalidArgumentError(`unknown signal ${signal}`);
  return n;
}

function describe(key: ProcessKey): string {
  return key.execId === "" ? `task ${key.containerId}` : `process ${key.execId} of task ${key.containerId}`;
}
