/**
 * The e2e harness: a private Shoal stack per test file, made of the real services as child
 * processes (the bundles from scripts/build.mjs), a fresh test database, a random NATS
 * prefix, a private containerd, its own free ports and a state root under
 * `/var/lib/shoal-test/<id>`. `teardown()` leaves nothing behind: no process, no runc
 * container, no mount under the state or run directory, no cgroup, no stream, no database.
 *
 * Requires root, Postgres and NATS answering (see `npm test`), containerd, runc and
 * busybox-static installed; a missing one fails `startStack` with a message naming it.
 *
 * `startStack({ hosts: N })` runs a fleet instead of the one local agent: N hosts from
 * @shoal/testing's `startTestHosts`, each a network namespace with its own containerd,
 * state and agent, all on a private nats-server that the control plane uses too (the only
 * NATS the agents can reach). `stack.fleet` cuts, heals, kills and restarts them.
 */
import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, openSync, closeSync, readFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { sql } from "kysely";
import type { Kysely } from "kysely";
import { cleanupAgentState, connectTestNats, createTestDatabase, ensureBusyboxRootfs, mountPoints, startTestContainerd, startTestHosts } from "@shoal/testing";
import type { TestContainerd, TestDatabase, TestHosts } from "@shoal/testing";
import type * as GrpcJs from "../../services/api/node_modules/@grpc/grpc-js";
import type * as ProtoLoader from "../../services/api/node_modules/@grpc/proto-loader";

const execFileAsync = promisify(execFile);

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
/** The compiled `shoal` that scripts/build.mjs makes (what `npm start` links onto PATH). */
export const SHOAL_BIN = join(REPO_ROOT, "services/cli/dist/shoal");

// The e2e tier is not a package: borrow the api's own gRPC libraries for the test client.
const requireFromApi = createRequire(join(REPO_ROOT, "services/api/package.json"));
const grpc = requireFromApi("@grpc/grpc-js") as typeof GrpcJs;
const protoLoader = requireFromApi("@grpc/proto-loader") as typeof ProtoLoader;

export const SERVICES = ["api", "scheduler", "mount-manager", "runtime-agent"] as const;
export type Service = (typeof SERVICES)[number];

/** gRPC status codes the tests compare against. */
export const Status = grpc.status;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A gRPC error as grpc-js reports it: `code` is the numeric status. */
export interface GrpcError extends Error {
  code: number;
  details: string;
}

export interface E2eStack {
  /** The api's gRPC `host:port`. */
  readonly addr: string;
  /** The one agent's host name (in a fleet stack: the first host's). */
  readonly host: string;
  readonly prefix: string;
  /** The agent's state root and run directory (in a fleet stack: the first host's). */
  readonly stateRoot: string;
  readonly runDir: string;
  /** The busybox root filesystem (for `--rootfs`). */
  readonly rootfs: string;
  readonly database: TestDatabase;
  readonly db: Kysely<any>;
  /** The agent's containerd (in a fleet stack: the first host's). */
  readonly containerd: TestContainerd;
  /** The hosts of a fleet stack (`startStack({ hosts: N })`); undefined for the one local agent. */
  readonly fleet?: TestHosts;
  /** Runs the real `shoal` with SHOAL_ADDR set to this stack; never rejects on a non-zero exit. */
  cli(args: string[], opts?: { env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult>;
  /** One unary call on `shoal.v1.<service>`; rejects with a GrpcError. */
  call<T = any>(service: "Containers" | "Checkpoints" | "Hosts" | "Config", method: string, request: object): Promise<T>;
  /** `shoal.v1.Events/Subscribe` as a grpc-js readable stream of Event objects. */
  subscribe(request: object): GrpcJs.ClientReadableStream<any>;
  /** `grpc.health.v1.Health/Check` of the whole server: true when SERVING. */
  healthy(): Promise<boolean>;
  /** SIGKILL to the service's process; resolves once it is gone. A fleet's agents: `fleet.killAgent`. */
  kill9(service: Service): Promise<void>;
  /** Stops the service if it runs (SIGTERM), starts it again and waits until it is ready. A fleet's agents: `fleet.restartAgent`. */
  restart(service: Service): Promise<void>;
  /** Pids of the service processes running now (a fleet's agents included). */
  servicePids(): number[];
  /** The service's log so far (pino JSON lines); a fleet's `runtime-agent` log is every host's, one after another. */
  log(service: Service): string;
  /** Mount points strictly below the state root (every host's, in a fleet; the agent's own bind of the root excluded). */
  mountsUnderStateRoot(): Promise<string[]>;
  /** Rows in the `events` table. */
  eventCount(): Promise<number>;
  /**
   * Containers the api lists (`ps -a`: its projection, caught up first — the live follow
   * settles after each change) plus containerd's containers in namespace `shoal` (summed
   * over the hosts' containerds in a fleet).
   */
  containerCounts(): Promise<{ projection: number; containerd: number }>;
  /** Events of one container's stream, in order. */
  containerEvents(id: string): Promise<{ type: string; data: any }[]>;
  /** The port the service serves Prometheus `/metrics` on (127.0.0.1). A fleet's agents: each host's `metricsUrl`. */
  metricsPort(service: Service): number;
  teardown(): Promise<void>;
}

/** A stack whose agents are a fleet of namespace hosts. */
export interface FleetStack extends E2eStack {
  readonly fleet: TestHosts;
}

export interface StackOptions {
  /** The services' log level: debug by default (a failing test's logs say the most); the benchmark runs at info, as a deployment does. */
  logLevel?: "debug" | "info";
  /** Run this many namespace hosts (see `startTestHosts`) instead of the one local agent. */
  hosts?: number;
  /** Fleet only: what each host offers (SHOAL_HOST_MEMORY, e.g. `256m`); default: probed. */
  hostMemory?: string;
  /** Fleet only: the CPUs each host offers (SHOAL_HOST_CPUS, e.g. `1`); default: probed. */
  hostCpus?: string;
  /** Fleet only: the agents' SHOAL_HEARTBEAT_MS; default 1000 (as the local agent's). */
  heartbeatMs?: number;
}

let built: Promise<void> | undefined;
/** Builds the service bundles and the CLI once per test process. */
export function ensureBuilt(): Promise<void> {
  built ??= execFileAsync(process.execPath, [join(REPO_ROOT, "scripts/build.mjs")], { cwd: REPO_ROOT }).then(
    () => undefined,
    (err: { stderr?: string; message: string }) => {
      throw new Error(`node scripts/build.mjs failed (run pnpm install first?): ${err.stderr ?? err.message}`);
    },
  );
  return built;
}

export function startStack(opts: StackOptions & { hosts: number }): Promise<FleetStack>;
export function startStack(opts?: StackOptions): Promise<E2eStack>;
export async function startStack(opts: StackOptions = {}): Promise<E2eStack> {
  if (process.getuid?.() !== 0) throw new Error("prerequisite missing: the e2e tests run as root (mounts, containerd)");
  await ensureBuilt();
  const id = randomBytes(4).toString("hex");
  const undo: (() => Promise<unknown>)[] = [];
  const teardown = async () => {
    for (const u of undo.reverse()) {
      await u().catch((err: unknown) => console.error(`e2e teardown step failed: ${(err as Error).message}`));
    }
    undo.length = 0;
  };
  try {
    const rootfs = await ensureBusyboxRootfs();
    const database = await createTestDatabase();
    undo.push(() => database.drop());
    const logDir = join(REPO_ROOT, ".shoal/e2e", id);
    await mkdir(logDir, { recursive: true });
    // A fleet's network and private NATS come first: the control plane uses that NATS too.
    let fleet: TestHosts | undefined;
    if (opts.hosts !== undefined) {
      const hosts = await startTestHosts({ count: opts.hosts, name: `e2e${id}`, logDir });
      fleet = hosts;
      undo.push(() => hosts.teardown());
    }
    const natsUrl = fleet?.natsUrl ?? process.env.SHOAL_NATS_URL ?? "nats://127.0.0.1:4222";
    const nats = await connectTestNats({ url: natsUrl });
    undo.push(() => nats.cleanup());

    let containerd: TestContainerd;
    let host: string;
    let stateRoot: string;
    let runDir: string;
    if (fleet === undefined) {
      const local = await startTestContainerd({ name: `e2e-${id}` });
      containerd = local;
      undo.push(() => local.stop());
      const localHost = { host: `e2e${id}`, stateRoot: `/var/lib/shoal-test/e2e-${id}-state`, runDir: `/run/shoal-test/e2e-${id}-run` };
      ({ host, stateRoot, runDir } = localHost);
      await mkdir(stateRoot, { recursive: true });
      await mkdir(runDir, { recursive: true });
      undo.push(() => cleanupHostState(localHost));
    } else {
      const first = fleet.hosts[0]!;
      ({ containerd, name: host, stateRoot, runDir } = first);
    }

    const [apiPort, apiMetrics, schedulerMetrics, mountManagerMetrics, agentMetrics] = await freePorts(5);
    const addr = `127.0.0.1:${apiPort}`;
    const common: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      SHOAL_DATABASE_URL: database.url,
      SHOAL_NATS_URL: natsUrl,
      SHOAL_SUBJECT_PREFIX: nats.prefix,
      SHOAL_LOG_LEVEL: opts.logLevel ?? "debug",
    };
    const env: Record<Service, Record<string, string>> = {
      api: { ...common, SHOAL_API_ADDR: addr, SHOAL_METRICS_PORT: String(apiMetrics) },
      scheduler: { ...common, SHOAL_METRICS_PORT: String(schedulerMetrics) },
      // A killed instance's unacked message is redelivered after 5 s instead of 30 s.
      "mount-manager": { ...common, SHOAL_METRICS_PORT: String(mountManagerMetrics), SHOAL_CONSUMER_ACK_WAIT_MS: "5000" },
      "runtime-agent": {
        ...common,
        SHOAL_HOST: host,
        SHOAL_CONTAINERD_SOCKET: containerd.socket,
        SHOAL_STATE_ROOT: stateRoot,
        SHOAL_RUN_DIR: runDir,
        SHOAL_METRICS_PORT: String(agentMetrics),
        SHOAL_HEARTBEAT_MS: "1000",
      },
    };

    const packageDefinition = protoLoader.loadSync(
      ["shoal/v1/containers.proto", "shoal/v1/checkpoints.proto", "shoal/v1/images.proto", "shoal/v1/events.proto", "shoal/v1/hosts.proto", "shoal/v1/config.proto"],
      { includeDirs: [join(REPO_ROOT, "proto")], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true },
    );
    const loaded = grpc.loadPackageDefinition(packageDefinition) as any;
    const clients: Record<string, GrpcJs.Client & Record<string, any>> = {};
    for (const svc of ["Containers", "Checkpoints", "Hosts", "Config", "Events"]) {
      clients[svc] = new loaded.shoal.v1[svc](addr, grpc.credentials.createInsecure());
    }
    const healthClient = new grpc.Client(addr, grpc.credentials.createInsecure());
    undo.push(async () => {
      for (const c of Object.values(clients)) c.close();
      healthClient.close();
    });

    const call = <T>(service: string, method: string, request: object, deadlineMs = 120_000): Promise<T> =>
      new Promise((resolve, reject) => {
        const client = clients[service]!;
        if (typeof client[method] !== "function") return reject(new Error(`no method ${service}/${method}`));
        client[method](request, { deadline: Date.now() + deadlineMs }, (err: GrpcError | null, res: T) =>
          err ? reject(err) : resolve(res),
        );
      });

    const healthy = () =>
      new Promise<boolean>((resolve) => {
        healthClient.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          () => Buffer.alloc(0), // HealthCheckRequest{service: ""}: the whole server
          (b: Buffer) => b,
          {},
          { deadline: Date.now() + 2_000 },
          (err, res) => resolve(!err && res !== undefined && res.length >= 2 && res[0] === 0x08 && res[1] === 0x01),
        );
      });

    const processes = new Map<Service, ChildProcess>();
    const logFile = (s: Service) => join(logDir, `${s}.log`);
    const spawnService = (s: Service) => {
      const fd = openSync(logFile(s), "a");
      try {
        const child = spawn(process.execPath, ["--enable-source-maps", join(REPO_ROOT, `services/${s}/dist/main.mjs`)], {
          cwd: REPO_ROOT,
          env: env[s],
          stdio: ["ignore", fd, fd],
        });
        processes.set(s, child);
        return child;
      } finally {
        closeSync(fd);
      }
    };
    const alive = (c: ChildProcess | undefined): boolean => c !== undefined && c.exitCode === null && c.signalCode === null;
    const log = (s: Service) => {
      if (fleet !== undefined && s === "runtime-agent") return fleet.hosts.map((h) => fleet.agentLog(h)).join("");
      return existsSync(logFile(s)) ? readFileSync(logFile(s), "utf8") : "";
    };
    const logTail = (s: Service) => log(s).split("\n").slice(-15).join("\n");

    const hostReady = async () => {
      try {
        const res = await call<any>("Hosts", "ListHosts", {}, 2_000);
        return (res.hosts as any[]).some((h) => h.name === host && h.status === "ready");
      } catch {
        return false;
      }
    };
    const metricsAnswer = async (s: Service) => {
      try {
        const res = await fetch(`http://127.0.0.1:${env[s].SHOAL_METRICS_PORT}/metrics`);
        return res.ok;
      } catch {
        return false;
      }
    };
    const ready: Record<Service, () => Promise<boolean>> = {
      api: healthy,
      scheduler: () => metricsAnswer("scheduler"),
      "mount-manager": () => metricsAnswer("mount-manager"),
      "runtime-agent": async () => (await metricsAnswer("runtime-agent")) && (await hostReady()),
    };
    const waitReady = async (s: Service) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const child = processes.get(s);
        if (!alive(child)) {
          const how = child === undefined ? "never started" : `exited with ${child.exitCode ?? child.signalCode}`;
          throw new Error(`${s} ${how} while starting:\n${logTail(s)}`);
        }
        if (await ready[s]()) return;
        if (Date.now() > deadline) throw new Error(`${s} was not ready within 60 s:\n${logTail(s)}`);
        await sleep(100);
      }
    };
    const stopService = async (s: Service, signal: NodeJS.Signals = "SIGTERM") => {
      const child = processes.get(s);
      if (child === undefined || !alive(child)) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    };
    undo.push(async () => {
      // The agent last, so it can still answer while the control plane shuts down.
      for (const s of ["api", "scheduler", "mount-manager", "runtime-agent"] as const) await stopService(s);
    });

    // The api first: it migrates and creates the streams the others consume from.
    spawnService("api");
    await waitReady("api");
    const others = fleet === undefined ? (["scheduler", "mount-manager", "runtime-agent"] as const) : (["scheduler", "mount-manager"] as const);
    for (const s of others) spawnService(s);
    await Promise.all(others.map(waitReady));
    if (fleet !== undefined) {
      await fleet.startAgents({
        command: [process.execPath, "--enable-source-maps", join(REPO_ROOT, "services/runtime-agent/dist/main.mjs")],
        env: common,
        cwd: REPO_ROOT,
        heartbeatMs: opts.heartbeatMs ?? 1000,
        ...(opts.hostMemory === undefined ? {} : { memory: opts.hostMemory }),
        ...(opts.hostCpus === undefined ? {} : { cpus: opts.hostCpus }),
      });
      const names = fleet.hosts.map((h) => h.name);
      await eventually(`hosts ${names.join(", ")} ready`, async () => {
        const res = await call<any>("Hosts", "ListHosts", {}, 2_000).catch(() => ({ hosts: [] }));
        const ready = new Set((res.hosts as any[]).filter((h) => h.status === "ready").map((h) => h.name as string));
        return names.every((n) => ready.has(n)) ? true : undefined;
      });
    }
    /** The one local agent is a service here; a fleet's agents belong to `fleet`. */
    const notInFleet = (s: Service, what: string) => {
      if (fleet !== undefined && s === "runtime-agent") throw new Error(`a fleet stack has one agent per host: use stack.fleet.${what}`);
    };
    const stateRoots = fleet === undefined ? [stateRoot] : fleet.hosts.map((h) => h.stateRoot);
    const containerdSockets = fleet === undefined ? [containerd.socket] : fleet.hosts.map((h) => h.containerd.socket);

    const db = database.db;
    const stack: E2eStack = {
      ...(fleet === undefined ? {} : { fleet }),
      addr,
      host,
      prefix: nats.prefix,
      stateRoot,
      runDir,
      rootfs,
      database,
      db,
      containerd,
      cli: (args, opts = {}) => runCli(args, { SHOAL_ADDR: addr, ...opts.env }, opts.timeoutMs ?? 120_000),
      call: (service, method, request) => call(service, method, request),
      subscribe: (request) => clients.Events!.Subscribe(request),
      healthy,
      async kill9(s) {
        notInFleet(s, "killAgent(host)");
        await stopService(s, "SIGKILL");
      },
      async restart(s) {
        notInFleet(s, "restartAgent(host)");
        await stopService(s);
        spawnService(s);
        await waitReady(s);
      },
      log,
      servicePids() {
        const agents = fleet === undefined ? [] : fleet.hosts.map((h) => fleet.agentPid(h)).filter((p): p is number => p !== undefined);
        return [...[...processes.values()].filter(alive).map((c) => c.pid!), ...agents];
      },
      async mountsUnderStateRoot() {
        return (await mountPoints()).filter((p) => stateRoots.some((root) => p.startsWith(`${root}/`)));
      },
      async eventCount() {
        const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM events`.execute(db);
        return r.rows[0]!.n;
      },
      async containerCounts() {
        let listed = 0;
        let pageToken = "";
        do {
          const page = await call<{ containers?: unknown[]; next_page_token?: string }>("Containers", "ListContainers", { all: true, page_size: 100, page_token: pageToken });
          listed += page.containers?.length ?? 0;
          pageToken = page.next_page_token ?? "";
        } while (pageToken !== "");
        let inContainerd = 0;
        for (const socket of containerdSockets) {
          const { stdout } = await execFileAsync("ctr", ["--address", socket, "-n", "shoal", "containers", "ls", "-q"]);
          inContainerd += stdout.split("\n").filter((l) => l.trim() !== "").length;
        }
        return { projection: listed, containerd: inContainerd };
      },
      async containerEvents(containerId) {
        const r = await sql<{ type: string; data: any }>`
          SELECT type, data FROM events WHERE stream_id = ${`container-${containerId}`} ORDER BY stream_version`.execute(db);
        return r.rows;
      },
      metricsPort: (s) => {
        notInFleet(s, "hosts[i].metricsUrl");
        return Number(env[s].SHOAL_METRICS_PORT);
      },
      async teardown() {
        await teardown();
        // Logs stay only when a test asks for them (SHOAL_E2E_KEEP_LOGS=1), for debugging.
        if (process.env.SHOAL_E2E_KEEP_LOGS !== "1") await rm(logDir, { recursive: true, force: true });
      },
    };
    return stack;
  } catch (err) {
    await teardown();
    throw err;
  }
}

/** Runs `shoal` with exactly `env` (plus PATH) and collects its output. */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(SHOAL_BIN, args, {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`shoal ${args.join(" ")} did not finish within ${timeoutMs} ms; stdout=${stdout} stderr=${stderr}`));
    }, timeoutMs);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal === null ? -1 : 128), stdout, stderr });
    });
  });
}

/** Mount points from /proc/self/mountinfo, octal escapes decoded. */
export { mountPoints };

/**
 * Removes what one agent may leave on the host when the test killed it or its containers
 * still ran: runc containers under `<runDir>/runc`, mounts under the state root and run
 * directory (deepest first), the directories, and the host's cgroup parents.
 */
export function cleanupHostState(p: { stateRoot: string; runDir: string; host: string }): Promise<void> {
  return cleanupAgentState(p);
}

/** `n` distinct free TCP ports on 127.0.0.1 (all held open together while chosen, so none repeats). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (typeof address !== "object" || address === null) throw new Error("no port");
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  return ports;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 100 ms until it returns a value other than undefined; fails after `timeoutMs` naming `what`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * Waits until the containers projection and containerd hold `expected` (the projection
 * follows the log asynchronously), then asserts it; fails with the last counts seen.
 */
export async function expectContainerCounts(stack: E2eStack, expected: { projection: number; containerd: number }): Promise<void> {
  let last = await stack.containerCounts();
  const deadline = Date.now() + 30_000;
  while ((last.projection !== expected.projection || last.containerd !== expected.containerd) && Date.now() < deadline) {
    await sleep(100);
    last = await stack.containerCounts();
  }
  if (last.projection !== expected.projection || last.containerd !== expected.containerd) {
    throw new Error(`containers: expected ${JSON.stringify(expected)}, still ${JSON.stringify(last)} after 30 s`);
  }
}
