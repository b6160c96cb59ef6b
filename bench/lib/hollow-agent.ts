/**
 * Hollow agents: simulated hosts for scale benchmarks only (never for product tests). Each
 * hollow host speaks the real host protocol over NATS as a runtime agent does
 * (services/runtime-agent/src/agent.ts), with no containerd, mount or file behind it:
 *
 *   - at start it publishes HostRegistered (JetStream, report id `reportIds.hostRegistered`)
 *     with hollow capabilities and the memory and CPUs it is told to offer;
 *   - every `heartbeatMs` it publishes a heartbeat (core NATS), first after a random part of
 *     one interval so a fleet's beats are spread as real hosts' are, and each connection makes
 *     one round trip to the server per interval (the agent's link measurement);
 *   - it answers host commands through the real `serveHostCommands`, parsing each payload
 *     with the real `parseCommand`: StartContainer as the agent's start does (the
 *     ContainerStartedPayload plus `alreadyRunning: false`, or `true` for one it runs), then
 *     publishes the ContainerStarted report right after the reply; StopContainer reports a
 *     ContainerExited; MountShm, UnmountShm, KillContainer, DeleteContainer, Reconcile (with
 *     its fence) and ListContainers answer from an in-memory table of what "runs".
 *
 * Many hosts share one process; `hostsPerConnection` sets how many share one NATS
 * connection (1: one connection per host, as a real fleet has).
 */
import { fork } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import type { JetStreamClient } from "@nats-io/jetstream";
import { publishHeartbeat, publishHostReport, serveHostCommands } from "@shoal/bus";
import { FailedPreconditionError, NotFoundError } from "../../packages/domain/src/index";
import type { HostCommandHandler, HostCommandServer } from "@shoal/bus";
import { REPORT_TYPES, parseCommand, reportIds } from "../../packages/host-protocol/src/index";
import type { CommandName, ContainerStartedPayload, HostRegisteredPayload } from "../../packages/host-protocol/src/index";

export interface HollowFleetOptions {
  natsUrl: string;
  /** The stack's subject prefix. */
  prefix: string;
  hosts: number;
  /** Host names are `<namePrefix>-<index, 5 digits>`. */
  namePrefix: string;
  heartbeatMs: number;
  /** Hosts sharing one NATS connection; default 1. */
  hostsPerConnection?: number;
  /** What each host offers to containers. */
  memoryBytes: number;
  nanoCpus: number;
  /** Simulated time a StartContainer takes on the host (containerd's part); default 0. */
  startDelayMs?: number;
}

/** What the fleet did so far (counters only grow). */
export interface HollowFleetCounters {
  heartbeats: number;
  registrations: number;
  reportsPublished: number;
  reportFailures: number;
  /** Host commands answered, by command name. */
  commands: Record<string, number>;
  /** Containers the fleet runs now. */
  running: number;
  /** Per received Reconcile: when (epoch ms), for finding the scheduler's periodic rounds. */
  reconcileTimes: number[];
  /** The same for ListContainers (the mount-manager's reconcile). */
  listTimes: number[];
  /** NATS client counters summed over the fleet's connections. */
  nats: { inMsgs: number; outMsgs: number; inBytes: number; outBytes: number };
  connections: number;
}

export interface HollowFleet {
  readonly hostNames: readonly string[];
  counters(): HollowFleetCounters;
  /** Stops heartbeats and command servers, then drains and closes every connection. Idempotent. */
  stop(): Promise<void>;
}

type Running = { pid: number; epoch?: number; ipcMode: string };

export async function startHollowFleet(o: HollowFleetOptions): Promise<HollowFleet> {
  const perConnection = Math.max(1, o.hostsPerConnection ?? 1);
  const hostNames = Array.from({ length: o.hosts }, (_, i) => `${o.namePrefix}-${String(i).padStart(5, "0")}`);
  const counters: HollowFleetCounters = {
    heartbeats: 0,
    registrations: 0,
    reportsPublished: 0,
    reportFailures: 0,
    commands: {},
    running: 0,
    reconcileTimes: [],
    listTimes: [],
    nats: { inMsgs: 0, outMsgs: 0, inBytes: 0, outBytes: 0 },
    connections: 0,
  };
  const connections: NatsConnection[] = [];
  const servers: HostCommandServer[] = [];
  /** The one pending timer of each repeating source (a host's heartbeat, a connection's round trip). */
  const timers = new Map<string, NodeJS.Timeout>();
  let stopping = false;
  const schedule = (key: string, ms: number, fn: () => void) => {
    if (!stopping) timers.set(key, setTimeout(fn, ms));
  };
  const quietLogger = {
    error: (obj: unknown, msg?: string) => console.error(`hollow agent: ${msg ?? ""} ${JSON.stringify(obj, errorReplacer)}`),
    warn: () => undefined,
    info: () => undefined,
    debug: () => undefined,
  };

  const stop = async () => {
    stopping = true;
    for (const t of timers.values()) clearTimeout(t);
    await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
    await Promise.all(connections.map((nc) => nc.drain().catch(() => nc.close())));
  };

  try {
    const connectionCount = Math.ceil(o.hosts / perConnection);
    // Connected a few at a time: a thousand simultaneous TLS-less connects are fine for
    // nats-server, but a burst makes its first seconds' numbers about the burst.
    for (let c = 0; c < connectionCount; c += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, connectionCount - c) }, (_, k) =>
          connect({ servers: o.natsUrl, name: `hollow-${o.namePrefix}-${c + k}`, maxReconnectAttempts: -1, timeout: 10_000 }),
        ),
      );
      connections.push(...batch);
    }
    counters.connections = connections.length;
    const jsOf = new Map<NatsConnection, JetStreamClient>(connections.map((nc) => [nc, jetstream(nc, { timeout: 10_000 })]));

    // One round trip per connection per interval: the agent's link measurement (watchNatsLink).
    for (const [c, nc] of connections.entries()) {
      const tick = () => {
        if (stopping) return;
        void nc.flush().catch(() => undefined);
        schedule(`link:${c}`, o.heartbeatMs, tick);
      };
      schedule(`link:${c}`, Math.random() * o.heartbeatMs, tick);
    }

    const registrations: Promise<void>[] = [];
    for (const [index, host] of hostNames.entries()) {
      const nc = connections[Math.floor(index / perConnection)]!;
      const js = jsOf.get(nc)!;
      const stateRoot = `/var/lib/shoal-hollow/${host}`;
      const running = new Map<string, Running>();
      let nextPid = 1000;
      const report = (type: string, reportId: string, payload: unknown) =>
        publishHostReport(js, { prefix: o.prefix, host, type, reportId, payload }).then(
          () => {
            counters.reportsPublished++;
            return true;
          },
          (err: unknown) => {
            counters.reportFailures++;
            if (!stopping) quietLogger.error({ host, type, err }, "could not publish report");
            return false;
          },
        );
      const exited = (containerId: string, r: Running, exitCode: number) => {
        running.delete(containerId);
        counters.running--;
        void report(REPORT_TYPES.containerExited, reportIds.containerExited(containerId, r.pid), {
          containerId,
          pid: r.pid,
          exitCode,
          exitedAt: new Date().toISOString(),
          foundAtRecovery: false,
        });
      };

      const handlers: Record<CommandName, (payload: unknown) => Promise<unknown>> = {
        async StartContainer(payload) {
          const p = parseCommand("StartContainer", payload);
          const live = running.get(p.containerId);
          // Locked in as the agent's lockInRuntime does: a bare name is found on the host's PATH
          // (here: /usr/bin); the hollow host writes no wrapper, so the binary is the path.
          const path = p.runtime.path.startsWith("/") ? p.runtime.path : `/usr/bin/${p.runtime.path}`;
          const runtime = { name: p.runtime.name, path, args: [...(p.runtime.args ?? [])], binaryPath: path };
          if (live !== undefined) {
            return { containerId: p.containerId, pid: live.pid, ipcNamespaceInode: 4026531839 + live.pid, runtime, alreadyRunning: true };
          }
          if ((o.startDelayMs ?? 0) > 0) await sleep(o.startDelayMs!);
          const pid = nextPid++;
          running.set(p.containerId, { pid, ...(p.epoch === undefined ? {} : { epoch: p.epoch }), ipcMode: p.ipcPlan.mode });
          counters.running++;
          const started: ContainerStartedPayload = {
            containerId: p.containerId,
            pid,
            ipcNamespaceInode: 4026531839 + pid,
            runtime,
            startedAt: new Date().toISOString(),
          };
          // After the reply, as the agent's afterReply(): serveHostCommands answers in the turn the handler settles.
          setImmediate(() => void report(REPORT_TYPES.containerStarted, reportIds.containerStarted(p.containerId, pid, started.startedAt), started));
          return { ...started, alreadyRunning: false };
        },
        async StopContainer(payload) {
          const p = parseCommand("StopContainer", payload);
          const r = running.get(p.containerId);
          if (r === undefined) return { alreadyStopped: true };
          setImmediate(() => exited(p.containerId, r, 0));
          return { alreadyStopped: false, exitCode: 0, killed: false };
        },
        async KillContainer(payload) {
          const p = parseCommand("KillContainer", payload);
          const r = running.get(p.containerId);
          if (r !== undefined) setImmediate(() => exited(p.containerId, r, 137));
          return { signal: 9 };
        },
        async DeleteContainer(payload) {
          const p = parseCommand("DeleteContainer", payload);
          const r = running.get(p.containerId);
          if (r !== undefined) {
            running.delete(p.containerId);
            counters.running--;
          }
          return { deleted: true };
        },
        async MountShm(payload) {
          const p = parseCommand("MountShm", payload);
          return { shmMountPath: `${stateRoot}/containers/${p.containerId}/mounts/shm`, created: true };
        },
        async UnmountShm(payload) {
          parseCommand("UnmountShm", payload);
          return { unmounted: 1 };
        },
        async Reconcile(payload) {
          const p = parseCommand("Reconcile", payload);
          counters.reconcileTimes.push(Date.now());
          const expected = new Map(p.expected.map((e) => [e.containerId, e.epoch]));
          const fenced: string[] = [];
          if (p.fence === true) {
            for (const [id, r] of running) {
              const want = expected.get(id);
              const elsewhere = !expected.has(id) || (want !== undefined && r.epoch !== undefined && want !== r.epoch);
              if (elsewhere) {
                running.delete(id);
                counters.running--;
                fenced.push(id);
              }
            }
          }
          const processes = [...running].map(([containerId, r]) => ({ containerId, pid: r.pid }));
          return {
            adopt: 0,
            reportExit: 0,
            lost: 0,
            fenced,
            running: [...running.keys()],
            processes,
            missing: [...expected.keys()].filter((id) => !running.has(id)),
            unexpected: [...running.keys()].filter((id) => !expected.has(id)),
          };
        },
        // A hollow host has no CRIU: it refuses checkpoints as a host without one does.
        async CheckpointContainers() {
          throw new FailedPreconditionError("checkpoint/restore needs CRIU, which a hollow host does not have");
        },
        async ReplicateCheckpoint() {
          throw new FailedPreconditionError("a hollow host stores no checkpoints");
        },
        async RemoveCheckpoint() {
          return { removed: false };
        },
        // A hollow host has no containerd: it holds no images and pulls none.
        async PullImage() {
          throw new FailedPreconditionError("a hollow host cannot pull images");
        },
        async ListImages() {
          return [];
        },
        async InspectImage(payload) {
          throw new NotFoundError(`No such image: ${parseCommand("InspectImage", payload).image}`);
        },
        async RemoveImage(payload) {
          throw new NotFoundError(`No such image: ${parseCommand("RemoveImage", payload).image}`);
        },
        async TagImage(payload) {
          throw new NotFoundError(`No such image: ${parseCommand("TagImage", payload).source}`);
        },
        async LoadImage() {
          throw new FailedPreconditionError("a hollow host cannot load images");
        },
        async SaveImage(payload) {
          throw new NotFoundError(`No such image: ${parseCommand("SaveImage", payload).images[0]}`);
        },
        async ListContainers() {
          counters.listTimes.push(Date.now());
          return {
            containers: [...running].map(([containerId, r]) => ({ containerId, status: "running", pid: r.pid, live: true, ipcMode: r.ipcMode })),
          };
        },
        async PauseContainer() {
          return { paused: true };
        },
        async UnpauseContainer() {
          return { paused: false };
        },
        async ExecInContainer() {
          return { exitCode: 0, stdout: "", stderr: "" };
        },
        async ReadLogs() {
          return { stdout: "", stderr: "" };
        },
        async TopContainer() {
          return { titles: ["PID", "CMD"], processes: [] };
        },
      };
      const counted: Record<string, HostCommandHandler> = {};
      for (const [name, handler] of Object.entries(handlers)) {
        counted[name] = (payload) => {
          counters.commands[name] = (counters.commands[name] ?? 0) + 1;
          return handler(payload);
        };
      }
      servers.push(serveHostCommands(nc, { prefix: o.prefix, host, handlers: counted, logger: quietLogger }));

      const startedAt = Date.now();
      const registered: HostRegisteredPayload = {
        host,
        capabilities: {
          kernelVersion: "6.1.0-hollow",
          cgroupVersion: "v2",
          runtimes: [{ name: "runc", path: "/usr/bin/runc", rro: { supported: false, reason: "hollow host" } }],
          apparmor: { enabled: false },
          criu: { available: false, reason: "hollow host: no CRIU" },
          stateRoot,
        },
        startedAt: new Date(startedAt).toISOString(),
        registeredAt: new Date(startedAt).toISOString(),
        memoryBytes: o.memoryBytes,
        nanoCpus: o.nanoCpus,
      };
      const beat = () => {
        if (stopping) return;
        publishHeartbeat(nc, { prefix: o.prefix, host, details: { containers: running.size } });
        counters.heartbeats++;
        schedule(`beat:${host}`, o.heartbeatMs, beat);
      };
      // As the agent: registered first, then heartbeats (the first after a random part of an interval).
      registrations.push(
        report(REPORT_TYPES.hostRegistered, reportIds.hostRegistered(host, startedAt), registered).then((ok) => {
          if (!ok) throw new Error(`host ${host} could not register (HostRegistered not stored by JetStream)`);
          counters.registrations++;
          schedule(`beat:${host}`, Math.random() * o.heartbeatMs, beat);
        }),
      );
    }
    await Promise.all(registrations);
  } catch (err) {
    await stop();
    throw err;
  }

  let stopped: Promise<void> | undefined;
  return {
    hostNames,
    counters() {
      const nats = { inMsgs: 0, outMsgs: 0, inBytes: 0, outBytes: 0 };
      for (const nc of connections) {
        const s = nc.stats();
        nats.inMsgs += s.inMsgs;
        nats.outMsgs += s.outMsgs;
        nats.inBytes += s.inBytes;
        nats.outBytes += s.outBytes;
      }
      return { ...counters, commands: { ...counters.commands }, reconcileTimes: [...counters.reconcileTimes], listTimes: [...counters.listTimes], nats };
    },
    stop() {
      stopped ??= stop();
      return stopped;
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errorReplacer(_k: string, v: unknown): unknown {
  return v instanceof Error ? { message: v.message, cause: (v.cause as Error | undefined)?.message } : v;
}

/** A hollow fleet running in a child process (hollow-agent-process.ts), seen from its parent. */
export interface ForkedHollowFleet {
  readonly hostNames: readonly string[];
  readonly pid: number;
  counters(): Promise<HollowFleetCounters>;
  /** Stops the fleet and waits for the child to exit (SIGKILL after 20 s). Idempotent. */
  stop(): Promise<void>;
}

/** Starts `startHollowFleet(o)` in a child process; resolves once every host's HostRegistered is stored. */
export async function forkHollowFleet(o: HollowFleetOptions): Promise<ForkedHollowFleet> {
  const child = fork(join(dirname(fileURLToPath(import.meta.url)), "hollow-agent-process.ts"), [], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const waiters: ((m: any) => boolean)[] = [];
  child.on("message", (m: any) => {
    const i = waiters.findIndex((w) => w(m));
    if (i >= 0) waiters.splice(i, 1);
  });
  const ask = <T>(request: object, pick: (m: any) => T | undefined, timeoutMs: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`hollow fleet did not answer ${JSON.stringify(request).slice(0, 40)} within ${timeoutMs} ms`)), timeoutMs);
      waiters.push((m) => {
        const v = pick(m);
        if (v === undefined) return false;
        clearTimeout(timer);
        resolve(v);
        return true;
      });
      void exited.then(() => reject(new Error("the hollow fleet's process exited")));
      child.send(request);
    });
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null && child.connected) {
        await ask({ stop: true }, (m) => (m?.stopped === true ? true : undefined), 20_000).catch(() => undefined);
      }
      const kill = setTimeout(() => child.kill("SIGKILL"), 20_000);
      if (child.exitCode === null && child.signalCode === null) await exited;
      clearTimeout(kill);
    })());
  try {
    const started = await ask(
      { start: o },
      (m) => (m?.started !== undefined ? { hostNames: m.started as string[] } : m?.failed !== undefined ? { failed: m.failed as string } : undefined),
      300_000,
    );
    if ("failed" in started) throw new Error(`hollow fleet: ${started.failed}`);
    return {
      hostNames: started.hostNames,
      pid: child.pid!,
      counters: () => ask({ counters: true }, (m) => (m?.counters !== undefined ? (m.counters as HollowFleetCounters) : undefined), 30_000),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
