import { mkdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { ensureStreams, publishHeartbeat, serveHostCommands } from "@shoal/bus";
import type { HostCommandHandler, HostCommandServer } from "@shoal/bus";
import { createWrapperStore } from "@shoal/config";
import type { WrapperStore } from "@shoal/config";
import { connectContainerd } from "@shoal/containerd";
import type { ContainerdClient } from "@shoal/containerd";
import { InvalidArgumentError, isShoalError } from "@shoal/domain";
import { createHostOs } from "@shoal/host-os";
import type { HostOs } from "@shoal/host-os";
import { REPORT_TYPES, parseCommand, reportIds } from "@shoal/host-protocol";
import type { CommandName, CommandPayload } from "@shoal/host-protocol";
import { serveMetrics } from "@shoal/metrics";
import type { MetricsServer } from "@shoal/metrics";
import pino from "pino";
import type { Logger } from "pino";
import { HOST_LABEL, publishReport } from "./agent-context";
import type { AgentContext } from "./agent-context";
import { loadDefaultAppArmorProfile } from "./apparmor";
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
import { ignoreNotFound, removeContainerFiles } from "./container-removal";
import { createContainerStore } from "./container-store";
import type { ContainerStore } from "./container-store";
import { finishExit, reportOom, retryUnreportedExits, watchExit } from "./exits";
import { detectCapabilities } from "./host-capabilities";
import type { HostCapabilities } from "./host-capabilities";
import { ensureSharedStateRoot, mountsAt, releaseSharedStateRoot, stateRootMarker } from "./host-mounts";
import { KeyedMutex } from "./keyed-mutex";
import { removeStaleWrappers } from "./locked-in-runtime";
import { ensureLogBinary } from "./log-binary";
import { createAgentMetrics } from "./metrics";
import { planRecovery } from "./recovery-plan";
import type { RecoveryPlan } from "./recovery-plan";
import { mountOwnerShm, unmountOwnerShm } from "./shm-mounts";
import { startContainer } from "./start-container";

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
        return startContainer(this.ctx, parseCommand(command, payload));
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
