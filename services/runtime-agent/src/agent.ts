import { existsSync, statSync } from "node:fs";
import { mkdir, rm, stat } from "node:fs/promises";
import { basename, dirname, join, normalize } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { ensureStreams, publishHeartbeat, serveHostCommands } from "@shoal/bus";
import type { HostCommandHandler, HostCommandServer } from "@shoal/bus";
import { createWrapperStore } from "@shoal/config";
import type { WrapperStore } from "@shoal/config";
import { connectContainerd } from "@shoal/containerd";
import type { ContainerdClient } from "@shoal/containerd";
import {
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  describeStartFailure,
  isShoalError,
} from "@shoal/domain";
import type { IpcPlan } from "@shoal/domain";
import { createHostOs } from "@shoal/host-os";
import type { HostOs } from "@shoal/host-os";
import { buildSpec, overlayRootfsMounts } from "@shoal/oci";
import pino from "pino";
import type { Logger } from "pino";
import { HOST_LABEL, publishReport } from "./agent-context";
import type { AgentContext } from "./agent-context";
import { removeEmptyCgroupParents } from "./cgroup-parents";
import {
  deleteContainer,
  execInContainer,
  killContainer,
  listContainers,
  pauseContainer,
  readLogs,
  stopContainer,
  topContainer,
} from "./container-operations";
import { ignoreNotFound, removeContainerdLeftovers, removeContainerFiles } from "./container-removal";
import { finishExit, reportOom, retryUnreportedExits, watchExit } from "./exits";
import { ensureLogBinary, logBinaryUri } from "./log-binary";
import { parseCommand } from "@shoal/host-protocol";
import type { CommandName, CommandPayload } from "@shoal/host-protocol";
import { containerPaths, createContainerStore } from "./container-store";
import type { ContainerRecord, ContainerStore } from "./container-store";
import { loadDefaultAppArmorProfile } from "./apparmor";
import { detectCapabilities } from "./host-capabilities";
import type { HostCapabilities } from "./host-capabilities";
import { ensureSharedStateRoot, mountsAt, releaseSharedStateRoot, stateRootMarker } from "./host-mounts";
import { mountShmForStart, mountOwnerShm, unmountOwnerShm } from "./shm-mounts";
import { KeyedMutex } from "./keyed-mutex";
import { lockInRuntime, removeStaleWrappers } from "./locked-in-runtime";
import { serveMetrics } from "@shoal/metrics";
import type { MetricsServer } from "@shoal/metrics";
import { createAgentMetrics } from "./metrics";
import { planRecovery } from "./recovery-plan";
import type { RecoveryPlan } from "./recovery-plan";
import { REPORT_TYPES, reportIds } from "@shoal/host-protocol";
import type { ContainerStartFailedPayload, ContainerStartedPayload } from "@shoal/host-protocol";

const RUNC_V2 = "io.containerd.runc.v2";

/** Whether `path` is a directory; false for anything that cannot be looked at. */
function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export interface StartAgentOptions {
  /** This host's name (one subject token). */
  host: string;
  /** An open NATS connection; the agent does not close it. */
  nc: NatsConnection;
  subjectPrefix: string;
  containerdSocket: string;
  /** Default `shoal`. */
  containerdNamespace?: string;
  stateRoot: string;
  /** Short run directory: runc's root is `<runDir>/runc`. */
  runDir: string;
  /** `/metrics` port; 0 picks a free one; undefined serves none. */
  metricsPort?: number;
  /** Default 5000. */
  heartbeatIntervalMs?: number;
  /** Runtimes to probe for HostRegistered; default runc on PATH. */
  runtimes?: { name: string; path: string }[];
  /** Default: pino on stderr at `logLevel`. */
  logger?: Logger;
  /** Level of the default logger; default `info`. */
  logLevel?: string;
  /** Tests pass a HostOs; default the real one. */
  hostOs?: HostOs;
}

/** A running agent. */
export interface Agent {
  readonly host: string;
  readonly capabilities: HostCapabilities;
  /** The port `/metrics` listens on, when served. */
  readonly metricsPort: number | undefined;
  /** What the start-up reconcile decided, bucket by bucket. */
  readonly recovery: RecoveryPlan;
  /** The agent's containerd client (its RPC counts feed the metrics). */
  readonly containerd: ContainerdClient;
  /** Runs a command exactly as if it came over NATS (same validation, same errors). */
  handle(command: CommandName, payload: unknown): Promise<unknown>;
  /**
   * Clean shutdown: stops taking commands, stops heartbeats, closes containerd and the
   * metrics server, and undoes the state-root bind when nothing is mounted below it.
   * Containers keep running. Idempotent.
   */
  stop(): Promise<void>;
}


/**
 * Starts the agent: connects to containerd, makes the state root shared, reconciles
 * what containerd and the mount table hold against its records (adopting running
 * tasks, reporting exits it missed once, unmounting what no live container owns),
 * removes stale runtime wrappers, publishes HostRegistered, then serves commands and
 * heartbeats. Rejects (and leaves nothing running) when containerd, NATS or JetStream
 * does not answer.
 */
export async function startAgent(options: StartAgentOptions): Promise<Agent> {
  const agent = new RuntimeAgent(options);
  try {
    await agent.start();
  } catch (err) {
    await agent.stop().catch(() => undefined);
    throw err;
  }
  return agent;
}

class RuntimeAgent implements Agent {
  readonly host: string;
  capabilities!: HostCapabilities;
  recovery!: RecoveryPlan;
  containerd!: ContainerdClient;
  private readonly log: Logger;
  private readonly os: HostOs;
  private readonly store: ContainerStore;
  private readonly wrappers: WrapperStore;
  private readonly runcRoot: string;
  private readonly cgroupPrefix: string;
  /** Made once containerd answers; every part of the agent runs with it. */
  private ctx!: AgentContext;
  private server: HostCommandServer | undefined;
  private metrics: MetricsServer | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private stopped: Promise<void> | undefined;
  private unsubscribeOom: (() => void) | undefined;

  constructor(private readonly opts: StartAgentOptions) {
    this.host = opts.host;
    this.log = opts.logger ?? pino({ name: "runtime-agent", base: { host: opts.host }, level: opts.logLevel ?? "info" }, pino.destination(2));
    this.os = opts.hostOs ?? createHostOs();
    this.store = createContainerStore(opts.stateRoot);
    this.wrappers = createWrapperStore({ dir: join(opts.stateRoot, "runtimes") });
    this.runcRoot = join(opts.runDir, "runc");
    this.cgroupPrefix = `shoal-${opts.host}`;
  }

  get metricsPort(): number | undefined {
    return this.metrics?.port;
  }

  async start(): Promise<void> {
    const o = this.opts;
    await mkdir(this.runcRoot, { recursive: true });
    await mkdir(join(o.runDir, "exec"), { recursive: true });
    const logger = await ensureLogBinary(o.runDir);
    if (logger.kind === "shell") this.log.warn({ reason: logger.fallbackReason }, "C logger unavailable; container output goes through the shell logger");
    await ensureStreams(await jetstreamManager(o.nc), o.subjectPrefix);
    this.capabilities = await detectCapabilities(this.os, o.runtimes ?? [{ name: "runc", path: "runc" }], o.stateRoot, join(o.runDir, "rro-probe"));
    // Before any command is served, so before any container can name the profile; a failed load stops the start here.
    if (await loadDefaultAppArmorProfile(this.os, this.capabilities.apparmor.enabled)) this.log.info("default AppArmor profile loaded");
    const bind = await ensureSharedStateRoot(this.os, o.stateRoot, stateRootMarker(o.runDir));
    this.log.info({ stateRoot: o.stateRoot, ownBind: bind.bound }, "state root propagation ensured");
    this.containerd = await connectContainerd({ socket: o.containerdSocket, namespace: o.containerdNamespace ?? "shoal" });
    this.ctx = {
      host: o.host,
      subjectPrefix: o.subjectPrefix,
      stateRoot: o.stateRoot,
      runDir: o.runDir,
      runcRoot: this.runcRoot,
      cgroupPrefix: this.cgroupPrefix,
      logBinary: logger.path,
      capabilities: this.capabilities,
      log: this.log,
      os: this.os,
      store: this.store,
      wrappers: this.wrappers,
      containerd: this.containerd,
      js: jetstream(o.nc),
      locks: new KeyedMutex(),
      live: new Map(),
      starting: new Set(),
      failedStarts: new Map(),
      unreported: new Set(),
      stopping: false,
    };
    const ctx = this.ctx;
    this.unsubscribeOom = this.containerd.events.on("task-oom", (e) => void reportOom(ctx, e.containerId, e.timestamp));

    this.recovery = await this.reconcile([], "startup");
    // Only live containers pin a wrapper: an exited one re-locks its runtime when started again.
    const inUse = new Set<string>();
    for (const r of (await this.store.list()).records) {
      if (this.ctx.live.has(r.containerId) && r.runtime.binaryPath !== r.runtime.path) inUse.add(r.runtime.binaryPath);
    }
    const removed = await removeStaleWrappers(this.wrappers, inUse);
    if (removed.length > 0) this.log.info({ removed }, "removed runtime wrappers no live container uses");

    const startedAt = Date.now();
    await publishReport(ctx, REPORT_TYPES.hostRegistered, reportIds.hostRegistered(o.host, startedAt), {
      host: o.host,
      capabilities: this.capabilities,
      startedAt: new Date(startedAt).toISOString(),
    });

    if (o.metricsPort !== undefined) {
      const { registry } = createAgentMetrics({ rpcCounts: () => this.containerd.rpcCounts(), containers: () => this.ctx.live.size });
      this.metrics = await serveMetrics(registry, o.metricsPort);
    }
    const handlers: Record<string, HostCommandHandler> = {};
    for (const name of COMMANDS) handlers[name] = (payload) => this.handle(name, payload);
    this.server = serveHostCommands(o.nc, { prefix: o.subjectPrefix, host: o.host, handlers, logger: this.log });
    const beat = () => {
      publishHeartbeat(o.nc, { prefix: o.subjectPrefix, host: o.host, details: { containers: this.ctx.live.size } });
      void retryUnreportedExits(ctx);
    };
    beat();
    this.heartbeat = setInterval(beat, o.heartbeatIntervalMs ?? 5000);
    this.log.info({ adopted: this.recovery.adopt.length }, "agent started");
  }

  async handle(command: CommandName, payload: unknown): Promise<unknown> {
    switch (command) {
      case "MountShm":
        return mountOwnerShm(this.ctx, parseCommand(command, payload));
      case "UnmountShm":
        return unmountOwnerShm(this.ctx, parseCommand(command, payload));
      case "StartContainer":
        return this.startContainer(parseCommand(command, payload));
      case "StopContainer":
        return stopContainer(this.ctx, parseCommand(command, payload));
      case "KillContainer":
        return killContainer(this.ctx, parseCommand(command, payload));
      case "PauseContainer":
        return pauseContainer(this.ctx, parseCommand(command, payload), true);
      case "UnpauseContainer":
        return pauseContainer(this.ctx, parseCommand(command, payload), false);
      case "ExecInContainer":
        return execInContainer(this.ctx, parseCommand(command, payload));
      case "ReadLogs":
        return readLogs(this.ctx, parseCommand(command, payload));
      case "TopContainer":
        return topContainer(this.ctx, parseCommand(command, payload));
      case "DeleteContainer":
        return deleteContainer(this.ctx, parseCommand(command, payload));
      case "Reconcile":
        return this.reconcileCommand(parseCommand(command, payload));
      case "ListContainers":
        return listContainers(this.ctx);
      default: {
        const never: never = command;
        throw new InvalidArgumentError(`unknown command ${String(never)}`);
      }
    }
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      if (this.ctx !== undefined) this.ctx.stopping = true;
      if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
      await this.server?.stop();
      this.unsubscribeOom?.();
      this.containerd?.close();
      await this.metrics?.close();
      await removeEmptyCgroupParents(this.cgroupPrefix);
      try {
        await releaseSharedStateRoot(this.os, this.opts.stateRoot, stateRootMarker(this.opts.runDir));
      } catch (err) {
        this.log.warn({ err }, "state root bind kept");
      }
    })();
    return this.stopped;
  }

  // ---- start ------------------------------------------------------------------------

  private startContainer(p: CommandPayload<"StartContainer">): Promise<unknown> {
    return this.ctx.locks.run(p.containerId, async () => {
      const live = this.ctx.live.get(p.containerId);
      if (live?.exited) await live.exitDone;
      const existing = await this.store.get(p.containerId);
      if (existing?.status === "running" && live !== undefined && !live.exited) {
        return {
          containerId: p.containerId,
          pid: live.task.pid,
          ipcNamespaceInode: await ipcInode(live.task.pid).catch(() => 0),
          runtime: existing.runtime,
          alreadyRunning: true,
        };
      }
      const failedBefore = this.ctx.failedStarts.get(p.containerId);
      if (p.attemptId !== undefined && failedBefore?.attemptId === p.attemptId) throw failedBefore.error;
      const attemptId = p.attemptId ?? String(Date.now());
      const progress = { settingUp: false };
      this.ctx.starting.add(p.containerId);
      try {
        if (existing !== undefined && existing.exit?.cleanedUp !== true) await removeContainerdLeftovers(this.ctx, p.containerId);
        const started = await this.createAndStart(p, existing, progress);
        this.ctx.failedStarts.delete(p.containerId);
        return started;
      } catch (err) {
        if (isShoalError(err) && err.code === "INVALID_ARGUMENT") throw err;
        const message = err instanceof Error ? err.message : String(err);
        const { reason, exitCode } = describeStartFailure({ message }, message);
        const payload: ContainerStartFailedPayload = { containerId: p.containerId, reason, exitCode };
        await publishReport(this.ctx, REPORT_TYPES.containerStartFailed, reportIds.containerStartFailed(p.containerId, attemptId), payload).catch(
          (e: unknown) => this.log.error({ err: e, containerId: p.containerId }, "could not report ContainerStartFailed"),
        );
        this.log.warn({ containerId: p.containerId, exitCode, reason }, "start failed; everything it set up was undone");
        const text = `start of container ${p.containerId} failed (exit code ${exitCode}): ${reason}`;
        // An owner that does not exist stays NOT_FOUND (DESIGN: joining rules); every other failure is a failed precondition.
        const answer =
          !progress.settingUp && isShoalError(err) && err.code === "NOT_FOUND"
            ? new NotFoundError(text, { cause: err })
            : new FailedPreconditionError(text, { cause: err });
        if (p.attemptId !== undefined) this.ctx.failedStarts.set(p.containerId, { attemptId: p.attemptId, error: answer });
        throw answer;
      } finally {
        this.ctx.starting.delete(p.containerId);
      }
    });
  }

  /** The start flow; on any failure everything set up so far is undone before rethrowing. */
  private async createAndStart(
    command: CommandPayload<"StartContainer">,
    previous: ContainerRecord | undefined,
    /** Set once the checks passed and setting up begins. */
    progress: { settingUp: boolean },
  ): Promise<ContainerStartedPayload & { alreadyRunning: false }> {
    const hc = command.hostConfig ?? {};
    const p = {
      ...command,
      readonlyRootfs: command.readonlyRootfs ?? hc.readonlyRootfs,
      mounts: command.mounts ?? hc.mounts,
      securityOpt: command.securityOpt ?? hc.securityOpt,
      privileged: command.privileged ?? hc.privileged,
      memoryBytes: command.memoryBytes ?? hc.memoryBytes,
    };
    const id = p.containerId;
    const paths = containerPaths(this.opts.stateRoot, id);
    if (!("dir" in p.rootfs)) throw new FailedPreconditionError("image root filesystems are not supported by this agent yet: pass rootfs.dir");
    const rootfsDir = p.rootfs.dir;
    // Two local lookups, made synchronously (as the record store's are): through the thread
    // pool, each cost a round trip on the start path (0.2 ms in place, against 0.04).
    const isDir = isDirectory(rootfsDir);
    const dirExisted = existsSync(paths.dir);
    await this.checkIpcPrerequisites(id, p.ipcPlan);
    if (!isDir) throw new FailedPreconditionError(`rootfs ${rootfsDir}: no such directory`);

    const runtime = await lockInRuntime(this.wrappers, p.runtime);
    const cap = this.capabilities.runtimes.find((r) => r.name === runtime.name || r.path === runtime.path);
    const spec = buildSpec({
      id,
      hostname: id.slice(0, 12),
      process: { args: p.args, ...(p.env ? { env: p.env } : {}), ...(p.cwd ? { cwd: p.cwd } : {}) },
      ipc: p.ipcPlan,
      ...(p.privileged !== undefined ? { privileged: p.privileged } : {}),
      ...(p.readonlyRootfs !== undefined ? { readonlyRootfs: p.readonlyRootfs } : {}),
      bindMounts: p.mounts ?? [],
      ...(cap ? { rro: cap.rro } : {}),
      securityOpt: p.securityOpt ?? [],
      apparmorEnabled: this.capabilities.apparmor.enabled,
      cgroupPrefix: this.cgroupPrefix,
      ...(p.memoryBytes !== undefined ? { memoryBytes: p.memoryBytes } : {}),
    });

    progress.settingUp = true;
    const undo: Array<() => Promise<unknown>> = [];
    // An owner's shm tmpfs is made here, alongside the dirs, the record and Containers.Create,
    // which do not need it; Tasks.Create waits for it. Settles, never rejects (see mountShmForStart).
    const ownShm = p.ipcPlan.mode === "shareable" ? mountShmForStart(this.ctx, id, p.ipcPlan.shmSizeBytes) : undefined;
    try {
      if (ownShm !== undefined) {
        // Runs last: only a tmpfs this attempt made is taken back; one that was there before is left.
        undo.push(async () => {
          const made = await ownShm;
          if (made.ok && made.created) {
            await unmountOwnerShm(this.ctx, { containerId: id });
          } else if (!made.ok) {
            // A mount that failed may have left its (empty) directories.
            await this.os.rmdir(paths.shm).catch(() => undefined);
            await this.os.rmdir(paths.mounts).catch(() => undefined);
            if (!dirExisted) await this.os.rmdir(paths.dir).catch(() => undefined);
          }
        });
      }
      // Made beside the record and Containers.Create, which do not need them; Tasks.Create does.
      const dirs = Promise.all([paths.upper, paths.work, paths.logs].map((d) => mkdir(d, { recursive: true })));
      undo.push(async () => {
        if (previous !== undefined) {
          // A restart of an exited container: its writable layer, logs and record stay as they were.
          await this.store.put(previous);
          return;
        }
        await rm(paths.rootfs, { recursive: true, force: true });
        await rm(paths.logs, { recursive: true, force: true });
        await this.store.remove(id);
        if (!dirExisted) await this.os.rmdir(paths.dir).catch(() => undefined);
      });
      const record: ContainerRecord = {
        version: 1,
        containerId: id,
        status: "starting",
        runtime,
        ipcPlan: p.ipcPlan,
        spec,
        logs: { stdout: join(paths.logs, "stdout.log"), stderr: join(paths.logs, "stderr.log") },
      };
      // The record and the containerd container are written together: a crash in between
      // leaves at worst a labelled container without a task, which recovery deletes. The
      // record exists before any task does.
      const [dirsMade, written, created] = await Promise.allSettled([
        dirs,
        this.store.put(record),
        this.containerd.createContainer({
          id,
          spec,
          runtime: { name: RUNC_V2, options: { binaryName: runtime.binaryPath, root: this.runcRoot } },
          labels: { [HOST_LABEL]: this.host },
        }),
      ]);
      if (created.status === "fulfilled") undo.push(() => created.value.delete());
      if (dirsMade.status === "rejected") throw dirsMade.reason;
      if (written.status === "rejected") throw written.reason;
      if (created.status === "rejected") throw created.reason;
      const container = created.value;
      if (ownShm !== undefined) {
        const made = await ownShm;
        if (!made.ok) throw made.error;
      }
      const task = await container.newTask({
        rootfs: overlayRootfsMounts(
          p.readonlyRootfs ? { lowerdir: rootfsDir } : { lowerdir: rootfsDir, upperdir: paths.upper, workdir: paths.work },
        ).map((m) => ({ type: m.type, source: m.source, options: [...m.options] })),
        // Both streams into the one log (see README "Logs").
        stdout: logBinaryUri(this.ctx.logBinary, { out: record.logs.stdout, err: record.logs.stdout }),
        stderr: logBinaryUri(this.ctx.logBinary, { out: record.logs.stdout, err: record.logs.stdout }),
      });
      undo.push(async () => {
        await task.kill("SIGKILL", { all: true }).catch(() => undefined);
        await task.delete();
      });
      // The namespaces exist once the task does: read the inode while it starts.
      const [ipcNamespaceInode] = await Promise.all([ipcInode(task.pid), task.start()]);

      record.status = "running";
      record.pid = task.pid;
      record.startedAt = new Date().toISOString();
      delete record.exit;
      await this.store.put(record);
      watchExit(this.ctx, id, task, container);

      const started: ContainerStartedPayload = {
        containerId: id,
        pid: task.pid,
        ipcNamespaceInode,
        runtime: { ...runtime, args: [...runtime.args] },
        startedAt: record.startedAt,
      };
      // Not awaited: the reply carries the same facts, and the api records the start from it;
      // the report is the durable fallback for an answer nobody received (the api knows it by
      // its deterministic id). It is published right after the reply (see afterReply).
      this.ctx.live.get(id)!.startedReport = afterReply()
        .then(() => publishReport(this.ctx, REPORT_TYPES.containerStarted, reportIds.containerStarted(id, task.pid), started))
        .catch((err: unknown) => this.log.error({ err, containerId: id }, "could not report ContainerStarted; the reply carries it"));
      return { ...started, alreadyRunning: false };
    } catch (err) {
      for (const step of undo.reverse()) {
        await step().catch((e: unknown) => this.log.error({ err: e, containerId: id }, "undo step of a failed start failed"));
      }
      throw err;
    }
  }

  /** FailedPreconditionError naming what is missing for the plan, before anything is set up. */
  private async checkIpcPrerequisites(id: string, plan: IpcPlan): Promise<void> {
    if (plan.mode === "host") {
      if (mountsAt(await this.os.readMountInfo(), "/dev/shm").length === 0) {
        throw new FailedPreconditionError("host IPC needs the host's /dev/shm mounted, and it is not");
      }
      return;
    }
    if (plan.mode === "container") {
      const owner = await this.store.get(plan.ownerId);
      const live = this.ctx.live.get(plan.ownerId);
      if (owner === undefined) throw new NotFoundError(`container ${plan.ownerId} not found on host ${this.host}`);
      const alive = await stat(`/proc/${plan.ownerPid}/ns/ipc`).then(
        () => true,
        () => false,
      );
      if (owner.status !== "running" || live === undefined || live.task.pid !== plan.ownerPid || !alive) {
        throw new FailedPreconditionError(`container ${plan.ownerId} is not running`);
      }
      if (owner.ipcPlan.mode !== "shareable") {
        throw new FailedPreconditionError(`non-shareable IPC (hint: start ${plan.ownerId} with --ipc shareable)`);
      }
    }
    if (plan.mode === "shareable") {
      // The start mounts the owner's tmpfs itself, only ever at this agent's own path for it.
      const own = containerPaths(this.opts.stateRoot, id).shm;
      if (normalize(plan.shmMountPath) !== own) {
        throw new FailedPreconditionError(
          `the plan's shm mount path ${plan.shmMountPath} is not this host's shm path ${own} for container ${id} (state root ${this.opts.stateRoot})`,
        );
      }
    }
    if (plan.mode === "container") {
      if (!mountsAt(await this.os.readMountInfo(), plan.shmMountPath).some((m) => m.fsType === "tmpfs")) {
        throw new FailedPreconditionError(`shm mount ${plan.shmMountPath} of container ${plan.ownerId} is not mounted`);
      }
    }
  }

  // ---- reconcile --------------------------------------------------------------------

  private async reconcileCommand(p: CommandPayload<"Reconcile">): Promise<unknown> {
    const plan = await this.reconcile(
      p.expected.map((e) => e.containerId),
      "running",
    );
    const expected = new Set(p.expected.map((e) => e.containerId));
    const { records } = await this.store.list();
    const present = new Set(records.map((r) => r.containerId));
    return {
      ...summary(plan),
      running: [...this.ctx.live.keys()],
      missing: [...expected].filter((id) => !present.has(id)),
      unexpected: [...this.ctx.live.keys()].filter((id) => !expected.has(id)),
    };
  }

  /**
   * Takes a snapshot (records, containerd tasks and containers, mount table), plans with
   * planRecovery and applies the plan. A mount still in use (EBUSY) is logged and left.
   */
  private async reconcile(expected: readonly string[], phase: "startup" | "running"): Promise<RecoveryPlan> {
    const { records, broken } = await this.store.list();
    if (broken.length > 0) this.log.error({ broken }, "unreadable container records; their containers are left alone");
    const loaded = await this.containerd.listTasks();
    const containers = await this.containerd.listContainers([`labels."${HOST_LABEL}"==${this.host}`]);
    const mine = new Set(containers.map((c) => c.id));
    const tasks = loaded.filter((t) => mine.has(t.task.containerId) || records.some((r) => r.containerId === t.task.containerId));
    const plan = planRecovery({
      stateRoot: this.opts.stateRoot,
      records,
      tasks: tasks.map((t) => ({
        containerId: t.task.containerId,
        status: t.state.status,
        pid: t.state.pid,
        ...(t.state.exit ? { exit: t.state.exit } : {}),
      })),
      containers: [...mine],
      mounts: await this.os.readMountInfo(),
      expected: phase === "running" ? [...expected, ...this.ctx.starting] : expected,
      phase,
      watched: [...this.ctx.live.keys()],
    });
    const taskOf = new Map(tasks.map((t) => [t.task.containerId, t.task]));
    const containerOf = new Map(containers.map((c) => [c.id, c]));

    for (const id of plan.adopt) {
      if (this.ctx.live.has(id)) continue;
      const container = containerOf.get(id);
      const status = tasks.find((t) => t.task.containerId === id)?.state.status;
      watchExit(this.ctx, id, taskOf.get(id)!, container, status === "paused" || status === "pausing");
      const record = records.find((r) => r.containerId === id)!;
      if (record.status !== "running") {
        record.status = "running";
        await this.store.put(record);
      }
    }
    for (const exit of [...plan.reportExit, ...plan.lost]) {
      await this.ctx.locks.run(exit.containerId, () => finishExit(this.ctx, exit.containerId, exit, true));
    }
    for (const id of plan.deleteStopped) {
      await this.ctx.locks.run(id, () => finishExit(this.ctx, id, { containerId: id, pid: taskOf.get(id)!.pid, exitCode: 0, exitedAt: new Date(0) }, true));
    }
    for (const id of plan.abandonedStarts) {
      await this.ctx.locks.run(id, async () => {
        const task = taskOf.get(id);
        if (task !== undefined) {
          await task.kill("SIGKILL", { all: true }).catch(() => undefined);
          await task.wait().catch(() => undefined);
          await task.delete().catch(ignoreNotFound);
        }
        await (containerOf.get(id)?.delete() ?? Promise.resolve()).catch(ignoreNotFound);
        await removeContainerFiles(this.ctx, id);
      });
    }
    for (const id of plan.orphanContainers) {
      await containerOf.get(id)?.delete().catch(ignoreNotFound);
    }
    for (const point of plan.unmount) {
      try {
        await this.os.unmount(point);
        if (mountsAt(await this.os.readMountInfo(), point).length === 0) {
          // Empty directories only: rmdir refuses anything else. The container's own dir goes when it has no record.
          const containerDir = dirname(dirname(point));
          await this.os.rmdir(point).catch(() => undefined);
          await this.os.rmdir(dirname(point)).catch(() => undefined);
          if ((await this.store.get(basename(containerDir)).catch(() => "unreadable")) === undefined) {
            await this.os.rmdir(containerDir).catch(() => undefined);
          }
        }
      } catch (err) {
        if (isShoalError(err) && err.code === "FAILED_PRECONDITION") this.log.warn({ err, mountPoint: point }, "mount in use; left mounted");
        else if (!(isShoalError(err) && err.code === "NOT_FOUND")) throw err;
      }
    }
    if (plan.foreign.length > 0) this.log.info({ foreign: plan.foreign }, "tasks without a record left alone");
    this.log.info(summary(plan), "reconciled");
    return plan;
  }
}

const COMMANDS: readonly CommandName[] = [
  "MountShm",
  "UnmountShm",
  "StartContainer",
  "StopContainer",
  "KillContainer",
  "PauseContainer",
  "UnpauseContainer",
  "ExecInContainer",
  "ReadLogs",
  "TopContainer",
  "DeleteContainer",
  "Reconcile",
  "ListContainers",
];

function summary(plan: RecoveryPlan): Record<string, number> {
  return Object.fromEntries(Object.entries(plan).map(([k, v]) => [k, (v as unknown[]).length]));
}

/**
 * Resolves after the current turn of the event loop. The host-command server sends a reply in
 * the continuation of its handler's promise, in the same turn, so what follows this runs after
 * the reply was handed to the NATS connection: on the wire the reply comes first. No delay.
 */
function afterReply(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function ipcInode(pid: number): Promise<number> {
  try {
    return (await stat(`/proc/${pid}/ns/ipc`)).ino;
  } catch (err) {
    throw new InternalError(`cannot stat the ipc namespace of pid ${pid}`, { cause: err });
  }
}
