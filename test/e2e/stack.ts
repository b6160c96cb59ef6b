/**
 * The e2e harness: a private Shoal stack per test file, made of the real services as child
 * processes (the bundles from scripts/build.mjs), a fresh test database, a random NATS
 * prefix, a private containerd, its own free ports and a state root under
 * `/var/lib/shoal-test/<id>`. `teardown()` leaves nothing behind: no process, no runc
 * container, no mount under the state or run directory, no cgroup, no stream, no database.
 *
 * Requires root, Postgres and NATS answering (see `npm test`), containerd, runc and
 * busybox-static installed; a missing one fails `startStack` with a message naming it.
 */
import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, openSync, closeSync, readFileSync } from "node:fs";
import { mkdir, readdir, readFile, rm, rmdir } from "node:fs/promises";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { sql } from "kysely";
import type { Kysely } from "kysely";
import { connectTestNats, createTestDatabase, ensureBusyboxRootfs, startTestContainerd } from "@shoal/testing";
import type { TestContainerd, TestDatabase } from "@shoal/testing";
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
  /** The one agent's host name. */
  readonly host: string;
  readonly prefix: string;
  readonly stateRoot: string;
  readonly runDir: string;
  /** The busybox root filesystem (for `--rootfs`). */
  readonly rootfs: string;
  readonly database: TestDatabase;
  readonly db: Kysely<any>;
  readonly containerd: TestContainerd;
  /** Runs the real `shoal` with SHOAL_ADDR set to this stack; never rejects on a non-zero exit. */
  cli(args: string[], opts?: { env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult>;
  /** One unary call on `shoal.v1.<service>`; rejects with a GrpcError. */
  call<T = any>(service: "Containers" | "Hosts" | "Config", method: string, request: object): Promise<T>;
  /** `shoal.v1.Events/Subscribe` as a grpc-js readable stream of Event objects. */
  subscribe(request: object): GrpcJs.ClientReadableStream<any>;
  /** `grpc.health.v1.Health/Check` of the whole server: true when SERVING. */
  healthy(): Promise<boolean>;
  /** SIGKILL to the service's process; resolves once it is gone. */
  kill9(service: Service): Promise<void>;
  /** Stops the service if it runs (SIGTERM), starts it again and waits until it is ready. */
  restart(service: Service): Promise<void>;
  /** Pids of the service processes running now. */
  servicePids(): number[];
  /** The service's log so far (pino JSON lines). */
  log(service: Service): string;
  /** Mount points strictly below the state root (the agent's own bind of the root excluded). */
  mountsUnderStateRoot(): Promise<string[]>;
  /** Rows in the `events` table. */
  eventCount(): Promise<number>;
  /**
   * Containers the api lists (`ps -a`: its projection, caught up first — the live follow
   * settles after each change) plus containerd's containers in namespace `shoal`.
   */
  containerCounts(): Promise<{ projection: number; containerd: number }>;
  /** Events of one container's stream, in order. */
  containerEvents(id: string): Promise<{ type: string; data: any }[]>;
  /** The port the service serves Prometheus `/metrics` on (127.0.0.1). */
  metricsPort(service: Service): number;
  teardown(): Promise<void>;
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

export async function startStack(opts: {
  /** The services' log level: debug by default (a failing test's logs say the most); the benchmark runs at info, as a deployment does. */
  logLevel?: "debug" | "info";
} = {}): Promise<E2eStack> {
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
    const nats = await connectTestNats();
    undo.push(() => nats.cleanup());
    const containerd = await startTestContainerd({ name: `e2e-${id}` });
    undo.push(() => containerd.stop());

    const host = `e2e${id}`;
    const stateRoot = `/var/lib/shoal-test/e2e-${id}-state`;
    const runDir = `/run/shoal-test/e2e-${id}-run`;
    const logDir = join(REPO_ROOT, ".shoal/e2e", id);
    await mkdir(stateRoot, { recursive: true });
    await mkdir(runDir, { recursive: true });
    await mkdir(logDir, { recursive: true });
    undo.push(() => cleanupHostState({ stateRoot, runDir, host }));

    const [apiPort, apiMetrics, schedulerMetrics, mountManagerMetrics, agentMetrics] = await freePorts(5);
    const addr = `127.0.0.1:${apiPort}`;
    const natsUrl = process.env.SHOAL_NATS_URL ?? "nats://127.0.0.1:4222";
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
      ["shoal/v1/containers.proto", "shoal/v1/events.proto", "shoal/v1/hosts.proto", "shoal/v1/config.proto"],
      { includeDirs: [join(REPO_ROOT, "proto")], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true },
    );
    const loaded = grpc.loadPackageDefinition(packageDefinition) as any;
    const clients: Record<string, GrpcJs.Client & Record<string, any>> = {};
    for (const svc of ["Containers", "Hosts", "Config", "Events"]) {
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
    const log = (s: Service) => (existsSync(logFile(s)) ? readFileSync(logFile(s), "utf8") : "");
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
    for (const s of ["scheduler", "mount-manager", "runtime-agent"] as const) spawnService(s);
    await Promise.all((["scheduler", "mount-manager", "runtime-agent"] as const).map(waitReady));

    const db = database.db;
    const stack: E2eStack = {
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
        await stopService(s, "SIGKILL");
      },
      async restart(s) {
        await stopService(s);
        spawnService(s);
        await waitReady(s);
      },
      log,
      servicePids() {
        return [...processes.values()].filter(alive).map((c) => c.pid!);
      },
      async mountsUnderStateRoot() {
        return (await mountPoints()).filter((p) => p.startsWith(`${stateRoot}/`));
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
        const { stdout } = await execFileAsync("ctr", ["--address", containerd.socket, "-n", "shoal", "containers", "ls", "-q"]);
        return { projection: listed, containerd: stdout.split("\n").filter((l) => l.trim() !== "").length };
      },
      async containerEvents(containerId) {
        const r = await sql<{ type: string; data: any }>`
          SELECT type, data FROM events WHERE stream_id = ${`container-${containerId}`} ORDER BY stream_version`.execute(db);
        return r.rows;
      },
      metricsPort: (s) => Number(env[s].SHOAL_METRICS_PORT),
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
export async function mountPoints(): Promise<string[]> {
  const text = await readFile("/proc/self/mountinfo", "utf8");
  return text
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined && p !== "")
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/**
 * Removes what one agent may leave on the host when the test killed it or its containers
 * still ran: runc containers under `<runDir>/runc`, mounts under the state root and run
 * directory (deepest first), the directories, and the host's cgroup parents.
 */
export async function cleanupHostState(p: { stateRoot: string; runDir: string; host: string }): Promise<void> {
  const runcRoot = join(p.runDir, "runc");
  for (const ns of await readdir(runcRoot).catch(() => [] as string[])) {
    const root = join(runcRoot, ns);
    const { stdout } = await execFileAsync("runc", ["--root", root, "list", "-q"]).catch(() => ({ stdout: "" }));
    for (const cid of stdout.split("\n").filter((s) => s !== "")) {
      await execFileAsync("runc", ["--root", root, "delete", "--force", cid]).catch(() => undefined);
    }
  }
  const points = (await mountPoints())
    .filter((m) => [p.stateRoot, p.runDir].some((pre) => m === pre || m.startsWith(`${pre}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of points) await execFileAsync("umount", ["-l", m]).catch(() => undefined);
  await rm(p.stateRoot, { recursive: true, force: true });
  await rm(p.runDir, { recursive: true, force: true });
  // runc leaves the per-host cgroup parent (`/shoal-<host>`) in every hierarchy.
  for (const controller of await readdir("/sys/fs/cgroup").catch(() => [] as string[])) {
    await removeCgroupTree(join("/sys/fs/cgroup", controller, `shoal-${p.host}`));
  }
}

async function removeCgroupTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (entries === undefined) return;
  for (const e of entries) if (e.isDirectory()) await removeCgroupTree(join(dir, e.name));
  await rmdir(dir).catch(() => undefined);
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
