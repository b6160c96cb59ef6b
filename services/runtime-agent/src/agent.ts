import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { ensureStreams, publishHeartbeat, serveHostCommands, watchNatsLink } from "@shoal/bus";
import type { HostCommandHandler, HostCommandServer, NatsLink } from "@shoal/bus";
import { createWrapperStore } from "@shoal/config";
import type { WrapperStore } from "@shoal/config";
import { connectContainerd } from "@shoal/containerd";
import type { ContainerdClient } from "@shoal/containerd";
import { createHostOs } from "@shoal/host-os";
import type { HostOs } from "@shoal/host-os";
import { REPORT_TYPES, reportIds } from "@shoal/host-protocol";
import type { CommandName } from "@shoal/host-protocol";
import { serveMetrics } from "@shoal/metrics";
import type { MetricsServer } from "@shoal/metrics";
import pino from "pino";
import type { Logger } from "pino";
import { publishReport } from "./agent-context";
import type { AgentContext } from "./agent-context";
import { loadDefaultAppArmorProfile } from "./apparmor";
import { removeEmptyCgroupParents } from "./cgroup-parents";
import { COMMANDS, handleCommand } from "./commands";
import { removeCheckpointLeftovers } from "./checkpoints";
import { createContainerStore } from "./container-store";
import type { ContainerStore } from "./container-store";
import { reportOom, retryUnreportedExits } from "./exits";
import { detectCapabilities, machineCapacitySources, probeCapacity } from "./host-capabilities";
import type { HostCapabilities, HostCapacity } from "./host-capabilities";
import { ensureSharedStateRoot, releaseSharedStateRoot, stateRootMarker } from "./host-mounts";
import { KeyedMutex } from "./keyed-mutex";
import { refreshImageIds } from "./images/local-images";
import { removeStaleWrappers } from "./locked-in-runtime";
import { ensureLogBinary } from "./log-binary";
import { createAgentMetrics } from "./metrics";
import { reconcile } from "./reconcile";
import { selfFence } from "./self-fence";
import type { RecoveryPlan } from "./recovery-plan";

// The agent's lifecycle: start-up (probe, policy, containerd, reconcile, register, serve)
// and clean stop. What a command does lives in the parts commands.ts dispatches to.

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
  /**
   * What the host offers to containers instead of what it probes (probeCapacity: the
   * machine's memory and CPUs within the agent's cgroup limits); each figure given replaces
   * the probed one. Tests make small hosts with it (SHOAL_HOST_MEMORY, SHOAL_HOST_CPUS).
   */
  capacity?: { memoryBytes?: number; nanoCpus?: number };
}

/** A running agent. */
export interface Agent {
  readonly host: string;
  readonly capabilities: HostCapabilities;
  /** The memory and CPUs the host registered with. */
  readonly capacity: HostCapacity;
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

/** Owns what start-up made (the context, the command server, heartbeats, metrics) and takes it down at stop. */
class RuntimeAgent implements Agent {
  readonly host: string;
  capabilities!: HostCapabilities;
  capacity!: HostCapacity;
  recovery!: RecoveryPlan;
  containerd!: ContainerdClient;
  private readonly log: Logger;
  private readonly os: HostOs;
  private readonly store: ContainerStore;
  private readonly wrappers: WrapperStore;
  private readonly runcRoot: string;
  private readonly cgroupPrefix: string;
  /** Made once containerd answers; every command runs with it. */
  private ctx: AgentContext | undefined;
  private server: HostCommandServer | undefined;
  private metrics: MetricsServer | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private link: NatsLink | undefined;
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
    const ctx: AgentContext = {
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
      nc: o.nc,
      js: jetstream(o.nc),
      imageIds: new Set(),
      locks: new KeyedMutex(),
      live: new Map(),
      starting: new Set(),
      failedStarts: new Map(),
      unreported: new Set(),
      stopping: false,
    };
    this.ctx = ctx;
    this.unsubscribeOom = this.containerd.events.on("task-oom", (e) => void reportOom(ctx, e.containerId, e.timestamp));

    await refreshImageIds(ctx);
    this.recovery = await reconcile(ctx, [], "startup");
    const leftovers = await removeCheckpointLeftovers(ctx);
    if (leftovers.length > 0) this.log.info({ leftovers }, "removed what an interrupted checkpoint or restore left");
    // Only live containers pin a wrapper: an exited one re-locks its runtime when started again.
    const inUse = new Set<string>();
    for (const r of (await this.store.list()).records) {
      if (ctx.live.has(r.containerId) && r.runtime.binaryPath !== r.runtime.path) inUse.add(r.runtime.binaryPath);
    }
    const removed = await removeStaleWrappers(this.wrappers, inUse);
    if (removed.length > 0) this.log.info({ removed }, "removed runtime wrappers no live container uses");

    this.capacity = await registeredCapacity(o.capacity);
    this.log.info(this.capacity, "capacity offered to containers");
    const startedAt = Date.now();
    await this.register(ctx, startedAt, startedAt);

    if (o.metricsPort !== undefined) {
      const { registry } = createAgentMetrics({ rpcCounts: () => this.containerd.rpcCounts(), containers: () => ctx.live.size });
      this.metrics = await serveMetrics(registry, o.metricsPort);
    }
    const handlers: Record<string, HostCommandHandler> = {};
    for (const name of COMMANDS) handlers[name] = (payload) => handleCommand(ctx, name, payload);
    this.server = serveHostCommands(o.nc, { prefix: o.subjectPrefix, host: o.host, handlers, logger: this.log });
    const beat = () => {
      publishHeartbeat(o.nc, { prefix: o.subjectPrefix, host: o.host, details: { containers: ctx.live.size, images: [...ctx.imageIds] } });
      void retryUnreportedExits(ctx);
    };
    beat();
    const interval = o.heartbeatIntervalMs ?? 5000;
    this.heartbeat = setInterval(beat, interval);
    // The link to the control plane, measured (not the connection's status): on a cut,
    // --stop-on-disconnect containers are stopped when their limit passes; when it returns,
    // the host registers again, so a scheduler that marked it lost fences and re-admits it.
    const stoppedThisCut = new Set<string>();
    this.link = watchNatsLink(o.nc, {
      intervalMs: interval,
      onLost: () => this.log.warn("cut off from the control plane (no NATS round trip)"),
      onReturn: (lostForMs) => {
        stoppedThisCut.clear();
        this.log.warn({ lostForMs }, "link to the control plane is back; registering again");
        void this.register(ctx, startedAt, Date.now()).catch((err: unknown) => this.log.error({ err }, "could not register again"));
      },
      onTick: (cutOffForMs) => {
        if (cutOffForMs > 0) void selfFence(ctx, cutOffForMs, stoppedThisCut);
      },
    });
    this.log.info({ adopted: this.recovery.adopt.length }, "agent started");
  }

  /** Publishes HostRegistered for the registration made at `registeredAt` (the start's, or a return's after a cut). */
  private register(ctx: AgentContext, startedAt: number, registeredAt: number): Promise<void> {
    return publishReport(ctx, REPORT_TYPES.hostRegistered, reportIds.hostRegistered(this.host, registeredAt), {
      host: this.host,
      capabilities: this.capabilities,
      startedAt: new Date(startedAt).toISOString(),
      registeredAt: new Date(registeredAt).toISOString(),
      memoryBytes: this.capacity.memoryBytes,
      nanoCpus: this.capacity.nanoCpus,
    });
  }

  handle(command: CommandName, payload: unknown): Promise<unknown> {
    // startAgent hands out an agent only once start() made the context.
    return handleCommand(this.ctx!, command, payload);
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      if (this.ctx !== undefined) this.ctx.stopping = true;
      if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
      this.link?.stop();
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
}

/** The probed capacity with the overrides given put in its place. */
async function registeredCapacity(override: StartAgentOptions["capacity"] = {}): Promise<HostCapacity> {
  const probed = await probeCapacity(machineCapacitySources());
  return {
    ...probed,
    ...(override.memoryBytes === undefined ? {} : { memoryBytes: override.memoryBytes, memorySource: "configured (SHOAL_HOST_MEMORY)" }),
    ...(override.nanoCpus === undefined ? {} : { nanoCpus: override.nanoCpus, cpusSource: "configured (SHOAL_HOST_CPUS)" }),
  };
}
