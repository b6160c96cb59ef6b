// npm run bench:scale — issue 11's "Scale, measured": the real api, scheduler and mount-manager
// (the bundles from scripts/build.mjs, started as processes as test/e2e/stack.ts starts them, on a
// fresh database and a private NATS subject prefix) against N hollow hosts (bench/lib/hollow-agent.ts:
// simulated hosts in ONE child process that speak the real host protocol over NATS — HostRegistered,
// heartbeats, host commands and reports — with no containerd). For each fleet size it prints:
//   - placements/s achieved and p50/p99 start-to-placed latency (ContainerStartRequested →
//     ContainerScheduled, from the events' recorded_at), start-to-running, and each hop;
//   - Postgres load (pg_stat_database / pg_stat_user_tables deltas of this run's database, the log's
//     growth, CPU of its backends) and NATS load (JetStream stream counts, the hollow fleet's own
//     NATS client counters), idle (heartbeats only) and under load;
//   - CPU per process (whole process and its main thread), so the first one to fill a core shows;
//   - the result against the goal of 1,000 starts/s with 200 hosts.
// Load: CLIENTS concurrent loops, each CreateContainer then StartContainer over the api's gRPC (the
// user-facing path `shoal run -d` takes; StartContainer returns once the container runs).
//
// Env (defaults in brackets): SHOAL_SCALE_HOSTS [200,1000]  SHOAL_SCALE_CLIENTS [32]
//   SHOAL_SCALE_SECONDS [30] measured load window   SHOAL_SCALE_WARMUP_SECONDS [5]
//   SHOAL_SCALE_IDLE_SECONDS [10] heartbeats only   SHOAL_SCALE_SERIAL_SECONDS [5] one client, no queueing   SHOAL_SCALE_HEARTBEAT_MS [5000] (the agent's default)
//   SHOAL_SCALE_HOSTS_PER_CONNECTION [1]   SHOAL_SCALE_START_DELAY_MS [0] simulated containerd time
//   SHOAL_SCALE_GOAL [1000] starts/s at the first size   SHOAL_SCALE_LOG_LEVEL [info]
//   SHOAL_SCALE_KEEP_LOGS=1 keeps the services' logs under .shoal/scale/<id>
// Everything it starts (processes, database, streams, the rootfs directory) is removed at the end,
// on failure and on SIGINT/SIGTERM. The whole run is bounded: sizes are skipped once it would pass
// SHOAL_SCALE_BUDGET_SECONDS [540].
import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { sql } from "kysely";
import { connectTestNats, createTestDatabase } from "@shoal/testing";
import type { TestDatabase, TestNats } from "@shoal/testing";
import type * as GrpcJs from "../services/api/node_modules/@grpc/grpc-js";
import type * as ProtoLoader from "../services/api/node_modules/@grpc/proto-loader";
import { freePorts, REPO_ROOT } from "../test/e2e/stack";
import { withCleanup } from "./lib/cleanup";
import type { Cleanup } from "./lib/cleanup";
import { forkHollowFleet } from "./lib/hollow-agent";
import type { ForkedHollowFleet, HollowFleetCounters } from "./lib/hollow-agent";
import { loadAverage } from "./lib/processes";
import { createCapacityView } from "../services/scheduler/src/capacity-view";
import type { Reservation } from "../services/scheduler/src/capacity-view";
import { planPlacement } from "../services/scheduler/src/placement";
import { quantile, table } from "./lib/stats";

const execFileAsync = promisify(execFile);
const requireFromApi = createRequire(join(REPO_ROOT, "services/api/package.json"));
const grpc = requireFromApi("@grpc/grpc-js") as typeof GrpcJs;
const protoLoader = requireFromApi("@grpc/proto-loader") as typeof ProtoLoader;

// ---- settings ------------------------------------------------------------------------------------
function envInt(name: string, dflt: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`${name} must be an integer ≥ ${min}, got ${raw}`);
    process.exit(2);
  }
  return n;
}
const SIZES = (process.env.SHOAL_SCALE_HOSTS ?? "200,1000").split(",").map((s) => Number(s.trim()));
if (SIZES.some((n) => !Number.isInteger(n) || n < 1)) {
  console.error(`SHOAL_SCALE_HOSTS must be a comma-separated list of host counts, got ${process.env.SHOAL_SCALE_HOSTS}`);
  process.exit(2);
}
const CLIENTS = envInt("SHOAL_SCALE_CLIENTS", 32, 1);
const LOAD_S = envInt("SHOAL_SCALE_SECONDS", 30, 1);
const WARMUP_S = envInt("SHOAL_SCALE_WARMUP_SECONDS", 5, 0);
const IDLE_S = envInt("SHOAL_SCALE_IDLE_SECONDS", 10, 1);
const SERIAL_S = envInt("SHOAL_SCALE_SERIAL_SECONDS", 5, 1);
const HEARTBEAT_MS = envInt("SHOAL_SCALE_HEARTBEAT_MS", 5000, 100);
const HOSTS_PER_CONNECTION = envInt("SHOAL_SCALE_HOSTS_PER_CONNECTION", 1, 1);
const START_DELAY_MS = envInt("SHOAL_SCALE_START_DELAY_MS", 0, 0);
const GOAL = envInt("SHOAL_SCALE_GOAL", 1000, 1);
const BUDGET_S = envInt("SHOAL_SCALE_BUDGET_SECONDS", 540, 60);
const LOG_LEVEL = process.env.SHOAL_SCALE_LOG_LEVEL ?? "info";
/** The scheduler's capacity view measured in this process, as HOSTSxRESERVATIONS pairs ("" skips it). */
const VIEW_SIZES = (process.env.SHOAL_SCALE_VIEW_SIZES ?? "1000x20000,10000x1000000")
  .split(",")
  .filter((x) => x.trim() !== "")
  .map((x) => {
    const [h, r] = x.split("x").map(Number);
    if (!Number.isInteger(h) || !Number.isInteger(r) || h! < 1 || r! < 0) {
      console.error(`SHOAL_SCALE_VIEW_SIZES wants HOSTSxRESERVATIONS pairs, got ${x}`);
      process.exit(2);
    }
    return { hosts: h!, reservations: r! };
  });
const NATS_URL = process.env.SHOAL_NATS_URL ?? "nats://127.0.0.1:4222";
/** What each hollow host offers: roomy enough that capacity never refuses a start here. */
const HOST_MEMORY = 1024 ** 4; // 1 TiB
const HOST_NANO_CPUS = 256e9;
const CONTROL_PLANE = ["api", "scheduler", "mount-manager"] as const;
type Service = (typeof CONTROL_PLANE)[number];
const TICK_HZ = 100; // USER_HZ: /proc/<pid>/stat counts CPU in 1/100 s

const benchStarted = Date.now();
const id = randomBytes(4).toString("hex");

// ---- /proc sampling --------------------------------------------------------------------------------
/** CPU ticks (user + system) of a process, or of one of its threads; undefined once it is gone. */
function cpuTicks(pid: number, tid?: number): number | undefined {
  try {
    const path = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
    const fields = readFileSync(path, "utf8").split(") ")[1]!.split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** Row name of the whole machine's busy CPU (every process, other people's too). */
const MACHINE = "the whole machine (everyone's processes)";

/** Busy CPU ticks of the whole machine so far: /proc/stat's first line minus idle and iowait. */
function machineBusyTicks(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return f.reduce((a, b) => a + b, 0) - f[3]! - f[4]!;
}

/** The pid listening on the NATS port (the machine's nats-server), if this user can see it. */
async function natsServerPid(): Promise<number | undefined> {
  const port = new URL(NATS_URL).port || "4222";
  try {
    const { stdout } = await execFileAsync("ss", ["-ltnpH", `sport = :${port}`]);
    const m = /pid=(\d+)/.exec(stdout);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

interface CpuSampler {
  /** Per process: average cores over the window, and the busiest 1-s interval of its main thread. */
  stop(): Promise<Map<string, { cores: number; mainThread: number; mainPeak: number }>>;
}

/**
 * Samples every second: each named pid's total and main-thread ticks, plus the summed ticks of this
 * run's Postgres backends (their pids from pg_stat_activity at each sample).
 */
function sampleCpu(pids: Map<string, number>, db: TestDatabase): CpuSampler {
  const started = performance.now();
  const machine0 = machineBusyTicks();
  const first = new Map<string, [number, number]>();
  const last = new Map<string, [number, number]>();
  const peak = new Map<string, number>();
  const backendFirst = new Map<number, number>();
  const backendLast = new Map<number, number>();
  let previousAt = started;
  const read = async () => {
    const now = performance.now();
    for (const [name, pid] of pids) {
      const total = cpuTicks(pid);
      const main = cpuTicks(pid, pid);
      if (total === undefined || main === undefined) continue;
      const before = last.get(name);
      if (before !== undefined && now > previousAt) {
        const util = (main - before[1]) / TICK_HZ / ((now - previousAt) / 1000);
        peak.set(name, Math.max(peak.get(name) ?? 0, util));
      }
      if (!first.has(name)) first.set(name, [total, main]);
      last.set(name, [total, main]);
    }
    const { rows } = await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`.execute(db.db);
    for (const { pid } of rows) {
      const t = cpuTicks(pid);
      if (t === undefined) continue;
      if (!backendFirst.has(pid)) backendFirst.set(pid, t);
      backendLast.set(pid, t);
    }
    previousAt = now;
  };
  let reading = read();
  const timer = setInterval(() => {
    reading = reading.then(read, read);
  }, 1000);
  return {
    async stop() {
      clearInterval(timer);
      await reading.catch(() => undefined);
      await read().catch(() => undefined);
      const seconds = (performance.now() - started) / 1000;
      const out = new Map<string, { cores: number; mainThread: number; mainPeak: number }>();
      for (const [name, [t0, m0]] of first) {
        const [t1, m1] = last.get(name)!;
        out.set(name, { cores: (t1 - t0) / TICK_HZ / seconds, mainThread: (m1 - m0) / TICK_HZ / seconds, mainPeak: peak.get(name) ?? 0 });
      }
      let backendTicks = 0;
      for (const [pid, t0] of backendFirst) backendTicks += backendLast.get(pid)! - t0;
      out.set("postgres (this run's backends)", { cores: backendTicks / TICK_HZ / seconds, mainThread: NaN, mainPeak: NaN });
      out.set(MACHINE, { cores: (machineBusyTicks() - machine0) / TICK_HZ / seconds, mainThread: NaN, mainPeak: NaN });
      return out;
    },
  };
}

// ---- Postgres and NATS counters --------------------------------------------------------------------
interface PgSnapshot {
  at: number;
  xactCommit: number;
  xactRollback: number;
  inserted: number;
  updated: number;
  deleted: number;
  fetched: number;
  blksRead: number;
  logBytes: number;
  tables: Map<string, number>;
}

async function pgSnapshot(db: TestDatabase): Promise<PgSnapshot> {
  // Backends flush their counters to shared memory at most once a second.
  await sleep(1100);
  const { rows } = await sql<{ c: string; r: string; i: string; u: string; d: string; f: string; b: string }>`
    SELECT xact_commit AS c, xact_rollback AS r, tup_inserted AS i, tup_updated AS u, tup_deleted AS d, tup_fetched AS f, blks_read AS b
    FROM pg_stat_database WHERE datname = current_database()`.execute(db.db);
  const t = await sql<{ relname: string; w: string }>`
    SELECT relname, (n_tup_ins + n_tup_upd + n_tup_del)::bigint AS w FROM pg_stat_user_tables`.execute(db.db);
  const size = await sql<{ bytes: string }>`
    SELECT (pg_total_relation_size('events') + pg_total_relation_size('outbox'))::bigint AS bytes`.execute(db.db);
  const r = rows[0]!;
  return {
    at: Date.now(),
    xactCommit: Number(r.c),
    xactRollback: Number(r.r),
    inserted: Number(r.i),
    updated: Number(r.u),
    deleted: Number(r.d),
    fetched: Number(r.f),
    blksRead: Number(r.b),
    logBytes: Number(size.rows[0]!.bytes),
    tables: new Map(t.rows.map((x) => [x.relname, Number(x.w)])),
  };
}

type PgRates = { commits: number; rollbacks: number; inserted: number; updated: number; deleted: number; fetched: number; logBytes: number; topTables: [string, number][] };
function pgRates(a: PgSnapshot, b: PgSnapshot, seconds: number): PgRates {
  const topTables = [...b.tables]
    .map(([name, w]) => [name, (w - (a.tables.get(name) ?? 0)) / seconds] as [string, number])
    .filter(([, r]) => r > 0)
    .sort((x, y) => y[1] - x[1])
    .slice(0, 5);
  return {
    commits: (b.xactCommit - a.xactCommit) / seconds,
    rollbacks: (b.xactRollback - a.xactRollback) / seconds,
    inserted: (b.inserted - a.inserted) / seconds,
    updated: (b.updated - a.updated) / seconds,
    deleted: (b.deleted - a.deleted) / seconds,
    fetched: (b.fetched - a.fetched) / seconds,
    logBytes: (b.logBytes - a.logBytes) / seconds,
    topTables,
  };
}

type StreamCounts = Map<string, { messages: number; bytes: number }>;
async function streamCounts(nats: TestNats): Promise<StreamCounts> {
  const prefix = `${nats.prefix.toUpperCase()}_`;
  const out: StreamCounts = new Map();
  for await (const info of nats.jsm.streams.list()) {
    if (info.config.name.startsWith(prefix)) out.set(info.config.name.slice(prefix.length), { messages: info.state.messages, bytes: info.state.bytes });
  }
  return out;
}

type Scrape = Map<string, number>;
async function scrape(port: number): Promise<Scrape> {
  const out: Scrape = new Map();
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const line of text.split("\n")) {
      if (line.startsWith("#") || line.trim() === "") continue;
      const i = line.lastIndexOf(" ");
      const key = line.slice(0, i);
      out.set(key, (out.get(key) ?? 0) + Number(line.slice(i + 1)));
    }
  } catch {
    // a metrics endpoint that does not answer leaves its figures blank
  }
  return out;
}
/** Sum of every series of `name` (all label sets). */
const metric = (s: Scrape, name: string) => [...s].filter(([k]) => k === name || k.startsWith(`${name}{`)).reduce((a, [, v]) => a + v, 0);

// ---- the control plane as processes ----------------------------------------------------------------
interface ControlPlane {
  addr: string;
  pids: Map<Service, number>;
  metricsPorts: Record<Service, number>;
  alive(): Service[];
  logTail(s: Service): string;
  logDir: string;
}

async function startControlPlane(cleanup: Cleanup, database: TestDatabase, nats: TestNats): Promise<ControlPlane> {
  const [apiPort, apiMetrics, schedulerMetrics, mountManagerMetrics] = await freePorts(4);
  const addr = `127.0.0.1:${apiPort}`;
  const logDir = join(REPO_ROOT, ".shoal/scale", `${id}-${nats.prefix}`);
  await mkdir(logDir, { recursive: true });
  cleanup.push("service logs", async () => {
    if (process.env.SHOAL_SCALE_KEEP_LOGS !== "1") await rm(logDir, { recursive: true, force: true });
  });
  const common = {
    PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    SHOAL_DATABASE_URL: database.url,
    SHOAL_NATS_URL: NATS_URL,
    SHOAL_SUBJECT_PREFIX: nats.prefix,
    SHOAL_LOG_LEVEL: LOG_LEVEL,
  };
  const metricsPorts: Record<Service, number> = { api: apiMetrics!, scheduler: schedulerMetrics!, "mount-manager": mountManagerMetrics! };
  const env: Record<Service, Record<string, string>> = {
    api: { ...common, SHOAL_API_ADDR: addr, SHOAL_METRICS_PORT: String(apiMetrics) },
    scheduler: { ...common, SHOAL_METRICS_PORT: String(schedulerMetrics) },
    "mount-manager": { ...common, SHOAL_METRICS_PORT: String(mountManagerMetrics) },
  };
  const children = new Map<Service, ChildProcess>();
  const logFile = (s: Service) => join(logDir, `${s}.log`);
  const alive = (c: ChildProcess | undefined) => c !== undefined && c.exitCode === null && c.signalCode === null;
  const logTail = (s: Service) => (existsSync(logFile(s)) ? readFileSync(logFile(s), "utf8").split("\n").slice(-15).join("\n") : "");
  const spawnService = (s: Service) => {
    const fd = openSync(logFile(s), "a");
    try {
      const child = spawn(process.execPath, ["--enable-source-maps", join(REPO_ROOT, `services/${s}/dist/main.mjs`)], { cwd: REPO_ROOT, env: env[s], stdio: ["ignore", fd, fd] });
      children.set(s, child);
      cleanup.push(`${s} (pid ${child.pid})`, async () => {
        if (!alive(child)) return;
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(timer);
      });
    } finally {
      closeSync(fd);
    }
  };
  const metricsAnswer = async (s: Service) => (await scrape(metricsPorts[s])).size > 0;
  const waitReady = async (s: Service, ready: () => Promise<boolean>) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      cleanup.check();
      if (!alive(children.get(s))) throw new Error(`${s} exited while starting:\n${logTail(s)}`);
      if (await ready()) return;
      if (Date.now() > deadline) throw new Error(`${s} was not ready within 60 s:\n${logTail(s)}`);
      await sleep(100);
    }
  };
  // The api first: it migrates and creates the streams the others consume from.
  spawnService("api");
  await waitReady("api", () => metricsAnswer("api"));
  spawnService("scheduler");
  spawnService("mount-manager");
  await Promise.all((["scheduler", "mount-manager"] as const).map((s) => waitReady(s, () => metricsAnswer(s))));
  return {
    addr,
    pids: new Map([...children].map(([s, c]) => [s, c.pid!])),
    metricsPorts,
    alive: () => CONTROL_PLANE.filter((s) => alive(children.get(s))),
    logTail,
    logDir,
  };
}

// ---- the gRPC client ------------------------------------------------------------------------------
interface Api {
  call<T = any>(service: "Containers" | "Hosts", method: string, request: object, deadlineMs?: number): Promise<T>;
  close(): void;
}
function apiClient(addr: string): Api {
  const def = protoLoader.loadSync(["shoal/v1/containers.proto", "shoal/v1/hosts.proto"], {
    includeDirs: [join(REPO_ROOT, "proto")],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(def) as any;
  const opts = { "grpc.max_receive_message_length": 64 * 1024 * 1024 };
  const clients: Record<string, any> = {
    Containers: new loaded.shoal.v1.Containers(addr, grpc.credentials.createInsecure(), opts),
    Hosts: new loaded.shoal.v1.Hosts(addr, grpc.credentials.createInsecure(), opts),
  };
  return {
    call: (service, method, request, deadlineMs = 120_000) =>
      new Promise((resolve, reject) => {
        clients[service][method](request, { deadline: Date.now() + deadlineMs }, (err: Error | null, res: any) => (err ? reject(err) : resolve(res)));
      }),
    close: () => Object.values(clients).forEach((c) => c.close()),
  };
}

// ---- driving the api, and reading the log ----------------------------------------------------------
interface Drive {
  clientCreate: number[];
  clientStart: number[];
  failureSamples: string[];
  startsInWindow(): number;
  createsInWindow(): number;
  failures(): number;
  /** Every client has stopped (no call in flight). */
  done: Promise<void>;
}

/**
 * `clients` concurrent loops, each CreateContainer then StartContainer (which returns once the
 * container runs), until `windowEnd`; latencies of calls made inside [windowStart, windowEnd].
 */
function drive(cleanup: Cleanup, api: Api, rootfs: string, clients: number, windowStart: number, windowEnd: number): Drive {
  const d = { clientCreate: [] as number[], clientStart: [] as number[], failureSamples: [] as string[], starts: 0, creates: 0, failures: 0 };
  const fail = (what: string, err: unknown) => {
    d.failures++;
    if (d.failureSamples.length < 5) d.failureSamples.push(`${what}: ${(err as Error).message ?? String(err)}`);
  };
  const worker = async () => {
    while (Date.now() < windowEnd) {
      cleanup.check();
      const c0 = Date.now();
      let created: { id: string };
      try {
        created = await api.call<{ id: string }>("Containers", "CreateContainer", { rootfs, args: ["/bin/sleep", "infinity"] });
      } catch (err) {
        fail("CreateContainer", err);
        await sleep(100);
        continue;
      }
      const s0 = Date.now();
      if (c0 >= windowStart && s0 <= windowEnd) {
        d.creates++;
        d.clientCreate.push(s0 - c0);
      }
      try {
        const res = await api.call<{ failed: boolean; error: string }>("Containers", "StartContainer", { container: created.id });
        if (res.failed) fail("StartContainer", new Error(res.error));
      } catch (err) {
        fail("StartContainer", err);
        continue;
      }
      const s1 = Date.now();
      if (s0 >= windowStart && s1 <= windowEnd) {
        d.starts++;
        d.clientStart.push(s1 - s0);
      }
    }
  };
  return {
    clientCreate: d.clientCreate,
    clientStart: d.clientStart,
    failureSamples: d.failureSamples,
    startsInWindow: () => d.starts,
    createsInWindow: () => d.creates,
    failures: () => d.failures,
    done: Promise.all(Array.from({ length: clients }, () => worker())).then(() => undefined),
  };
}

interface Logged {
  placedPerS: number;
  startedPerS: number;
  placed: number[];
  running: number[];
  hops: { label: string; ms: number[] }[];
}

/** Rates and latencies of [from, to] from events.recorded_at (each append's transaction start: one clock). */
async function fromLog(database: TestDatabase, from: number, to: number): Promise<Logged> {
  const { rows } = await sql<{ stream_id: string; type: string; t: number }>`
    SELECT stream_id, type, (extract(epoch FROM recorded_at) * 1000)::float8 AS t FROM events
    WHERE type IN ('ContainerStartRequested', 'ContainerScheduled', 'ContainerIpcPrepared', 'ContainerStarted')
      AND recorded_at >= to_timestamp(${(from - 60_000) / 1000})`.execute(database.db);
  const marks = new Map<string, Record<string, number>>();
  for (const r of rows) {
    const m = marks.get(r.stream_id) ?? {};
    m[r.type] ??= r.t;
    marks.set(r.stream_id, m);
  }
  const inWindow = (t: number | undefined) => t !== undefined && t >= from && t <= to;
  const measured = [...marks.values()].filter((m) => inWindow(m.ContainerStartRequested));
  const gap = (a: string, b: string) => measured.filter((m) => m[a] !== undefined && m[b] !== undefined).map((m) => m[b]! - m[a]!);
  const seconds = (to - from) / 1000;
  return {
    placedPerS: [...marks.values()].filter((m) => inWindow(m.ContainerScheduled)).length / seconds,
    startedPerS: [...marks.values()].filter((m) => inWindow(m.ContainerStarted)).length / seconds,
    placed: gap("ContainerStartRequested", "ContainerScheduled"),
    running: gap("ContainerStartRequested", "ContainerStarted"),
    hops: [
      { label: "scheduler: StartRequested → Scheduled", ms: gap("ContainerStartRequested", "ContainerScheduled") },
      { label: "mount-manager: Scheduled → IpcPrepared", ms: gap("ContainerScheduled", "ContainerIpcPrepared") },
      { label: "api dispatch + host + record: IpcPrepared → Started", ms: gap("ContainerIpcPrepared", "ContainerStarted") },
    ],
  };
}

// ---- one fleet size --------------------------------------------------------------------------------
interface SizeResult {
  hosts: number;
  registerSeconds: number;
  serial: Logged & { clientStart: number[]; clientCreate: number[]; clientStartsPerS: number };
  idle: { seconds: number; pg: PgRates; cpu: Map<string, { cores: number; mainThread: number; mainPeak: number }>; natsOut: number; natsIn: number; heartbeats: number };
  load: {
    seconds: number;
    placedPerS: number;
    startedPerS: number;
    clientStartsPerS: number;
    createsPerS: number;
    placed: number[];
    running: number[];
    hops: { label: string; ms: number[] }[];
    clientCreate: number[];
    clientStart: number[];
    pg: PgRates;
    cpu: Map<string, { cores: number; mainThread: number; mainPeak: number }>;
    streams: { name: string; msgsPerS: number; bytesPerS: number }[];
    fleet: { natsOutPerS: number; natsInPerS: number; reportsPerS: number; commandsPerS: Record<string, number> };
    schedulerBusy: number;
    schedulerMeanMs: number;
    mountManagerBusy: number;
    failures: number;
    failureSamples: string[];
  };
  reconcileRounds: { hosts: number; ms: number }[];
  loadAverage: { before: string; after: string };
  lostHosts: number;
  containers: number;
}

async function runSize(cleanup: Cleanup, hosts: number, rootfs: string): Promise<SizeResult> {
  const database = await createTestDatabase();
  cleanup.push(`database ${database.url.split("/").pop()}`, () => database.drop());
  const nats = await connectTestNats({ url: NATS_URL });
  cleanup.push(`NATS streams of prefix ${nats.prefix}`, () => nats.cleanup());
  cleanup.check();
  const cp = await startControlPlane(cleanup, database, nats);
  const api = apiClient(cp.addr);
  cleanup.push("gRPC client", async () => api.close());

  // ---- hosts
  const registerBegan = Date.now();
  const fleet: ForkedHollowFleet = await forkHollowFleet({
    natsUrl: NATS_URL,
    prefix: nats.prefix,
    hosts,
    namePrefix: `hollow${id}`,
    heartbeatMs: HEARTBEAT_MS,
    hostsPerConnection: HOSTS_PER_CONNECTION,
    memoryBytes: HOST_MEMORY,
    nanoCpus: HOST_NANO_CPUS,
    startDelayMs: START_DELAY_MS,
  });
  cleanup.push(`hollow fleet (pid ${fleet.pid})`, () => fleet.stop());
  const readyCount = async () => {
    const res = await api.call<{ hosts: { name: string; status: string }[] }>("Hosts", "ListHosts", {}, 30_000).catch(() => ({ hosts: [] }));
    return res.hosts.filter((h) => h.status === "ready").length;
  };
  for (let seen = 0; ; ) {
    cleanup.check();
    seen = await readyCount();
    if (seen >= hosts) break;
    if (Date.now() - registerBegan > 180_000) throw new Error(`only ${seen} of ${hosts} hosts ready after 180 s:\n${cp.logTail("scheduler")}`);
    await sleep(500);
  }
  const registerSeconds = (Date.now() - registerBegan) / 1000;
  process.stderr.write(`  ${hosts} hosts ready in ${registerSeconds.toFixed(1)} s; idle window ${IDLE_S} s …\n`);

  const pidsToWatch = new Map<string, number>([...cp.pids].map(([s, p]) => [s as string, p]));
  pidsToWatch.set("hollow fleet (all hosts)", fleet.pid);
  pidsToWatch.set("bench (load generator)", process.pid);
  const natsPid = await natsServerPid();
  if (natsPid !== undefined) pidsToWatch.set("nats-server (shared)", natsPid);

  // ---- idle: heartbeats (and the periodic reconciles) only
  const idlePg0 = await pgSnapshot(database);
  const idleC0 = await fleet.counters();
  const idleC0At = Date.now();
  const idleCpu = sampleCpu(pidsToWatch, database);
  await sleepChecked(cleanup, IDLE_S * 1000);
  const idleCpuResult = await idleCpu.stop();
  const idleC1 = await fleet.counters();
  const idleFleetSeconds = (Date.now() - idleC0At) / 1000;
  const idlePg1 = await pgSnapshot(database);
  const idleSeconds = (idlePg1.at - idlePg0.at) / 1000;

  // ---- one client: start-to-placed with no queue in front of any service
  process.stderr.write(`  one client for ${SERIAL_S} s …\n`);
  const serialStart = Date.now() + 1000;
  const serialEnd = serialStart + SERIAL_S * 1000;
  const serialDrive = drive(cleanup, api, rootfs, 1, serialStart, serialEnd);
  await serialDrive.done;
  const serial = await fromLog(database, serialStart, serialEnd);

  // ---- load
  process.stderr.write(`  load: ${CLIENTS} clients, ${WARMUP_S} s warm-up + ${LOAD_S} s measured …\n`);
  const windowStart = Date.now() + WARMUP_S * 1000;
  const windowEnd = windowStart + LOAD_S * 1000;
  const loadAvgBefore = loadAverage();
  const load = drive(cleanup, api, rootfs, CLIENTS, windowStart, windowEnd);
  await sleepChecked(cleanup, Math.max(0, windowStart - Date.now()));
  const sched0 = await scrape(cp.metricsPorts.scheduler);
  const mm0 = await scrape(cp.metricsPorts["mount-manager"]);
  const scrape0At = Date.now();
  const loadC0 = await fleet.counters();
  const loadC0At = Date.now();
  const streams0 = await streamCounts(nats);
  const loadPg0 = await pgSnapshot(database);
  const loadCpu = sampleCpu(pidsToWatch, database);
  await sleepChecked(cleanup, Math.max(0, windowEnd - Date.now() - 1100));
  const loadCpuResult = await loadCpu.stop();
  const loadPg1 = await pgSnapshot(database);
  const loadSeconds = (loadPg1.at - loadPg0.at) / 1000;
  const streams1 = await streamCounts(nats);
  const loadC1 = await fleet.counters();
  const loadFleetSeconds = (Date.now() - loadC0At) / 1000;
  const sched1 = await scrape(cp.metricsPorts.scheduler);
  const mm1 = await scrape(cp.metricsPorts["mount-manager"]);
  const scrapeSeconds = (Date.now() - scrape0At) / 1000;
  const loadAvgAfter = loadAverage();
  // In-flight calls finish (bounded by their deadline), so nothing is left half-started.
  let giveUp: NodeJS.Timeout | undefined;
  await Promise.race([load.done, new Promise((resolve) => (giveUp = setTimeout(resolve, 90_000)))]);
  clearTimeout(giveUp);
  if (cp.alive().length !== CONTROL_PLANE.length) {
    const dead = CONTROL_PLANE.filter((s) => !cp.alive().includes(s));
    throw new Error(`${dead.join(", ")} exited during the load:\n${dead.map((s) => cp.logTail(s)).join("\n")}`);
  }
  const logged = await fromLog(database, windowStart, windowEnd);
  const windowSeconds = (windowEnd - windowStart) / 1000;

  const hostsNow = await api.call<{ hosts: { status: string }[] }>("Hosts", "ListHosts", {}, 30_000);
  const counters = await fleet.counters();
  const rate = (a: HollowFleetCounters, b: HollowFleetCounters, s: number) => ({
    natsOutPerS: (b.nats.outMsgs - a.nats.outMsgs) / s,
    natsInPerS: (b.nats.inMsgs - a.nats.inMsgs) / s,
    reportsPerS: (b.reportsPublished - a.reportsPublished) / s,
    commandsPerS: Object.fromEntries(Object.keys(b.commands).map((k) => [k, ((b.commands[k] ?? 0) - (a.commands[k] ?? 0)) / s])),
  });
  const schedBusy = (metric(sched1, "shoal_scheduler_placement_seconds_sum") - metric(sched0, "shoal_scheduler_placement_seconds_sum")) / scrapeSeconds;
  const schedCount = metric(sched1, "shoal_scheduler_placement_seconds_count") - metric(sched0, "shoal_scheduler_placement_seconds_count");
  const mmBusy = (metric(mm1, "shoal_mount_manager_prepare_seconds_sum") - metric(mm0, "shoal_mount_manager_prepare_seconds_sum")) / scrapeSeconds;

  return {
    hosts,
    registerSeconds,
    idle: {
      seconds: idleSeconds,
      pg: pgRates(idlePg0, idlePg1, idleSeconds),
      cpu: idleCpuResult,
      natsOut: (idleC1.nats.outMsgs - idleC0.nats.outMsgs) / idleFleetSeconds,
      natsIn: (idleC1.nats.inMsgs - idleC0.nats.inMsgs) / idleFleetSeconds,
      heartbeats: (idleC1.heartbeats - idleC0.heartbeats) / idleFleetSeconds,
    },
    serial: { ...serial, clientStart: serialDrive.clientStart, clientCreate: serialDrive.clientCreate, clientStartsPerS: serialDrive.startsInWindow() / SERIAL_S },
    load: {
      ...logged,
      seconds: windowSeconds,
      clientStartsPerS: load.startsInWindow() / windowSeconds,
      createsPerS: load.createsInWindow() / windowSeconds,
      clientCreate: load.clientCreate,
      clientStart: load.clientStart,
      pg: pgRates(loadPg0, loadPg1, loadSeconds),
      cpu: loadCpuResult,
      streams: [...streams1].map(([name, s]) => ({
        name,
        msgsPerS: (s.messages - (streams0.get(name)?.messages ?? 0)) / loadSeconds,
        bytesPerS: (s.bytes - (streams0.get(name)?.bytes ?? 0)) / loadSeconds,
      })),
      fleet: rate(loadC0, loadC1, loadFleetSeconds),
      schedulerBusy: schedBusy,
      schedulerMeanMs: schedCount > 0 ? (schedBusy * scrapeSeconds * 1000) / schedCount : NaN,
      mountManagerBusy: mmBusy,
      failures: load.failures() + serialDrive.failures(),
      failureSamples: [...serialDrive.failureSamples, ...load.failureSamples].slice(0, 5),
    },
    loadAverage: { before: loadAvgBefore, after: loadAvgAfter },
    reconcileRounds: rounds(counters.reconcileTimes, registerBegan + registerSeconds * 1000),
    lostHosts: hostsNow.hosts.filter((h) => h.status === "lost").length,
    containers: counters.running,
  };
}

/** The scheduler's periodic fencing rounds after registration: Reconciles received, grouped by gaps over 5 s. */
function rounds(times: number[], after: number): { hosts: number; ms: number }[] {
  const sorted = times.filter((t) => t > after + 2000).sort((a, b) => a - b);
  const out: { hosts: number; ms: number }[] = [];
  let begin = 0;
  for (let i = 1; i <= sorted.length; i++) {
    if (i === sorted.length || sorted[i]! - sorted[i - 1]! > 5000) {
      out.push({ hosts: i - begin, ms: sorted[i - 1]! - sorted[begin]! });
      begin = i;
    }
  }
  return out.filter((r) => r.hosts > 1);
}

// ---- the capacity view, in this process -------------------------------------------------------------
interface ViewResult {
  hosts: number;
  reservations: number;
  loadMs: number;
  placeMs: number;
  reservationsOnMs: number;
  heapMiB: number;
}

/**
 * The scheduler's own capacity view (services/scheduler/src/capacity-view.ts) and planner, timed
 * here at sizes the fleet cannot reach on this machine: what one placement costs (inputsFor +
 * planPlacement, as the placement handler calls them) and what one host's reservationsOn costs
 * (the fencing Reconcile sends it to every host every 30 s, and a HostLost walks it).
 */
function measureView(hosts: number, reservations: number): ViewResult {
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const hostRows = Array.from({ length: hosts }, (_, i) => ({
    name: `h${String(i).padStart(6, "0")}`,
    status: "ready" as const,
    memoryBytes: HOST_MEMORY,
    nanoCpus: HOST_NANO_CPUS,
    registeredAt: new Date(0),
  }));
  const placements: Reservation[] = Array.from({ length: reservations }, (_, i) => ({
    containerId: i.toString(16).padStart(64, "0"),
    containerName: `c${i}`,
    host: hostRows[i % hosts]!.name,
    reservedBytes: 64 * 1024 * 1024,
    reservedNanoCpus: 0,
    scheduledVersion: 3,
  }));
  const view = createCapacityView({ hosts: hostRows, placements });
  const loadMs = performance.now() - t0;
  const heapMiB = (process.memoryUsage().heapUsed - heap0) / 1024 / 1024;
  const place = () => {
    const containerId = randomBytes(32).toString("hex");
    const inputs = view.inputsFor(containerId);
    const plan = planPlacement({ hosts: inputs.hosts, usage: inputs.usage, request: { containerId, ipcMode: { kind: "private" }, shmBytes: 64 * 1024 * 1024 } });
    if (!("place" in plan)) throw new Error(`capacity view: ${plan.unavailable}`);
  };
  const timeEach = (n: number, fn: (i: number) => void) => {
    for (let i = 0; i < Math.min(5, n); i++) fn(i); // warm-up
    const began = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    return (performance.now() - began) / n;
  };
  const placeMs = timeEach(hosts >= 10_000 ? 50 : 200, place);
  const reservationsOnMs = timeEach(reservations >= 500_000 ? 5 : 50, (i) => view.reservationsOn(hostRows[i % hosts]!.name));
  return { hosts, reservations, loadMs, placeMs, reservationsOnMs, heapMiB };
}

// ---- report ------------------------------------------------------------------------------------------
const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-");
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "-");
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "-");
const kib = (n: number) => (Number.isFinite(n) ? `${(n / 1024).toFixed(0)} KiB` : "-");
const pct = (xs: number[], q: number) => f1(quantile(xs, q));

function printSize(r: SizeResult): void {
  const L = r.load;
  console.log(`\n== ${r.hosts} hollow hosts ==`);
  console.log(`registration: all ${r.hosts} ready ${f1(r.registerSeconds)} s after the fleet process was started`);
  console.log(`load average when the load began ${r.loadAverage.before}, when it ended ${r.loadAverage.after}`);
  console.log(
    table(
      ["throughput (measured window)", "per second"],
      [
        ["placements (ContainerScheduled appended)", f1(L.placedPerS)],
        ["containers running (ContainerStarted appended)", f1(L.startedPerS)],
        ["StartContainer calls answered (client)", f1(L.clientStartsPerS)],
        ["CreateContainer calls answered (client)", f1(L.createsPerS)],
      ],
    ),
  );
  const row = (label: string, xs: number[]) => [label, String(xs.length), pct(xs, 0.5), pct(xs, 0.9), pct(xs, 0.99), pct(xs, 1)];
  const latencyRows = (x: Logged & { clientCreate: number[]; clientStart: number[] }) => [
    row("start-to-placed (StartRequested → Scheduled)", x.placed),
    row("start-to-running (StartRequested → Started)", x.running),
    ...x.hops.slice(1).map((h) => row(`  hop: ${h.label}`, h.ms)),
    row("client: CreateContainer", x.clientCreate),
    row("client: StartContainer (until running)", x.clientStart),
  ];
  console.log(`\n${table([`latency (ms), ${CLIENTS} clients`, "n", "p50", "p90", "p99", "max"], latencyRows(L))}`);
  console.log(
    `\n${table([`latency (ms), 1 client (no queue; ${f1(r.serial.clientStartsPerS)} starts/s)`, "n", "p50", "p90", "p99", "max"], latencyRows(r.serial))}`,
  );
  console.log(
    `scheduler placement handler busy ${f0(L.schedulerBusy * 100)}% of the window (mean ${f2(L.schedulerMeanMs)} ms per placement, handled one at a time);` +
      ` mount-manager prepare busy ${f0(L.mountManagerBusy * 100)}%`,
  );
  if (L.failures > 0) console.log(`failures: ${L.failures} (${L.failureSamples.join(" | ")})`);

  const names = [...new Set([...r.idle.cpu.keys(), ...L.cpu.keys()])].filter((n) => n !== MACHINE);
  console.log(
    "\n" +
      table(
        ["CPU (cores; main thread = the event loop)", "idle total", "load total", "load main thr.", "main thr. busiest 1 s", "CPU ms per start"],
        [
          ...names.map((n) => {
            const i = r.idle.cpu.get(n);
            const l = L.cpu.get(n);
            return [n, f2(i?.cores ?? NaN), f2(l?.cores ?? NaN), f2(l?.mainThread ?? NaN), f2(l?.mainPeak ?? NaN), f1(((l?.cores ?? NaN) * 1000) / L.startedPerS)];
          }),
          (() => {
            const sum = (m: Map<string, { cores: number }>) => [...m].filter(([n]) => !n.startsWith("nats") && n !== MACHINE).reduce((a, [, v]) => a + v.cores, 0);
            return ["this run's processes (all above but nats-server)", f2(sum(r.idle.cpu)), f2(sum(L.cpu)), "", "", f1((sum(L.cpu) * 1000) / L.startedPerS)];
          })(),
          [MACHINE, f2(r.idle.cpu.get(MACHINE)?.cores ?? NaN), f2(L.cpu.get(MACHINE)?.cores ?? NaN), "", "", ""],
        ],
      ),
  );
  const P = (x: PgRates) => [f0(x.commits), f0(x.inserted), f0(x.updated), f0(x.deleted), f0(x.fetched), kib(x.logBytes)];
  console.log(
    "\n" +
      table(
        ["Postgres (this run's database), per second", "commits", "rows ins", "rows upd", "rows del", "rows fetched", "log+outbox growth"],
        [
          [`idle (${f1(r.idle.seconds)} s, heartbeats only)`, ...P(r.idle.pg)],
          [`load (${f1(L.seconds)} s)`, ...P(L.pg)],
        ],
      ),
  );
  console.log(`  writes by table, idle: ${r.idle.pg.topTables.map(([t, w]) => `${t} ${f0(w)}/s`).join(", ") || "none"}`);
  console.log(`  writes by table, load: ${L.pg.topTables.map(([t, w]) => `${t} ${f0(w)}/s`).join(", ")}`);
  console.log(
    "\n" +
      table(
        ["NATS, per second", "idle", "load"],
        [
          ["hollow fleet: messages sent (heartbeats, replies, reports)", f0(r.idle.natsOut), f0(L.fleet.natsOutPerS)],
          ["hollow fleet: messages received (commands, acks)", f0(r.idle.natsIn), f0(L.fleet.natsInPerS)],
          ["  of which heartbeats sent", f0(r.idle.heartbeats), ""],
          ["  reports published (JetStream)", "", f0(L.fleet.reportsPerS)],
          ...Object.entries(L.fleet.commandsPerS)
            .filter(([, v]) => v > 0)
            .map(([k, v]) => [`  host command ${k} answered`, "", f1(v)]),
          ...L.streams.map((s) => [`JetStream stream ${s.name}: messages (bytes)`, "", `${f0(s.msgsPerS)} (${kib(s.bytesPerS)})`]),
        ],
      ),
  );
  const rr = r.reconcileRounds.map((x) => `${x.hosts} hosts in ${f0(x.ms)} ms`).join("; ");
  console.log(`periodic fencing Reconcile rounds seen after registration: ${rr || "none in this run"}`);
  console.log(`hosts marked lost during the run: ${r.lostHosts}; containers running on the fleet at the end: ${f0(r.containers)}`);
}

// ---- main ----------------------------------------------------------------------------------------------
const loadAtStart = loadAverage();
const results: SizeResult[] = [];
await withCleanup(async (cleanup) => {
  console.error(`bench:scale — sizes ${SIZES.join(", ")} hosts; load average at start ${loadAtStart} (${cpus().length} CPUs)`);
  console.error("building the service bundles (node scripts/build.mjs api scheduler mount-manager) …");
  await execFileAsync(process.execPath, [join(REPO_ROOT, "scripts/build.mjs"), ...CONTROL_PLANE], { cwd: REPO_ROOT });
  const rootfs = await mkdtemp(join(tmpdir(), "shoal-scale-rootfs-"));
  cleanup.push("rootfs directory", () => rm(rootfs, { recursive: true, force: true }));
  for (const hosts of SIZES) {
    const elapsed = (Date.now() - benchStarted) / 1000;
    const estimate = 45 + IDLE_S + WARMUP_S + LOAD_S + hosts / 20;
    if (elapsed + estimate > BUDGET_S) {
      console.error(`skipping ${hosts} hosts: ${f0(elapsed)} s spent, about ${f0(estimate)} s more would pass the ${BUDGET_S} s budget`);
      continue;
    }
    console.error(`${hosts} hosts: starting api, scheduler, mount-manager and the hollow fleet …`);
    // Each size gets its own database, prefix and processes, all removed before the next size.
    const inner: { what: string; step: () => Promise<unknown> }[] = [];
    const scoped: Cleanup = { push: (what, step) => inner.push({ what, step }), check: () => cleanup.check() };
    cleanup.push(`the ${hosts}-host run`, async () => {
      while (inner.length > 0) {
        const { what, step } = inner.pop()!;
        await step().catch((err: unknown) => console.error(`cleanup: ${what} failed: ${(err as Error).message}`));
      }
    });
    try {
      const r = await runSize(scoped, hosts, rootfs);
      results.push(r);
    } finally {
      while (inner.length > 0) {
        const { what, step } = inner.pop()!;
        await step().catch((err: unknown) => console.error(`cleanup: ${what} failed: ${(err as Error).message}`));
      }
    }
  }
});

const viewResults: ViewResult[] = [];
for (const v of VIEW_SIZES) {
  viewResults.push(measureView(v.hosts, v.reservations));
  if (typeof global.gc === "function") global.gc();
}
const loadAtEnd = loadAverage();
console.log(`\nShoal scale benchmark (hollow hosts) — ${new Date(benchStarted).toISOString()}, ${f0((Date.now() - benchStarted) / 1000)} s in all`);
console.log(`machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}); load average at start ${loadAtStart}, at end ${loadAtEnd}`);
console.log("how it was driven:");
console.log(`  the real api, scheduler and mount-manager (bundles from scripts/build.mjs, logging at ${LOG_LEVEL}) as processes, on a fresh`);
console.log(`  database on the machine's Postgres and a private subject prefix on the machine's NATS (${NATS_URL});`);
console.log(`  hollow hosts (bench/lib/hollow-agent.ts) in one child process, ${HOSTS_PER_CONNECTION} host(s) per NATS connection, heartbeat every`);
console.log(`  ${HEARTBEAT_MS} ms, each offering ${HOST_MEMORY / 1024 ** 4} TiB and ${HOST_NANO_CPUS / 1e9} CPUs, answering StartContainer after ${START_DELAY_MS} ms;`);
console.log(`  ${CLIENTS} concurrent gRPC clients in this process, each looping CreateContainer{--rootfs DIR, /bin/sleep infinity} then`);
console.log(`  StartContainer (returns once running), IPC mode the daemon default (private); ${WARMUP_S} s warm-up, then ${LOAD_S} s measured.`);
console.log(`  Latencies from events.recorded_at of each container whose start was requested in the measured window.`);
console.log(`  pg_stat_statements: not available (the extension exists but is not in shared_preload_libraries of the machine's`);
console.log(`  Postgres, which other people's tests share, so this benchmark does not change it); NATS /varz is not enabled.`);
for (const r of results) printSize(r);
if (viewResults.length > 0) {
  console.log("\n== the scheduler's capacity view and planner, in this process (services/scheduler/src/capacity-view.ts, placement.ts) ==");
  console.log(
    table(
      ["hosts", "reservations", "load (ms)", "heap (MiB)", "one placement (ms)", "reservationsOn(host) (ms)", "a fencing round: hosts × reservationsOn (s)"],
      viewResults.map((v) => [f0(v.hosts), f0(v.reservations), f0(v.loadMs), f0(v.heapMiB), f2(v.placeMs), f2(v.reservationsOnMs), f1((v.hosts * v.reservationsOnMs) / 1000)]),
    ),
  );
  console.log("(one placement = inputsFor + planPlacement, as the placement handler runs them inside the view's exclusive section)");
}
const first = results.find((r) => r.hosts === SIZES[0]);
if (first !== undefined) {
  const got = first.load.placedPerS;
  const ratio = got / GOAL;
  console.log(`\n== goal: ${GOAL} starts/s with ${first.hosts} hosts ==`);
  console.log(
    `achieved ${f1(got)} placements/s and ${f1(first.load.startedPerS)} starts/s (running) = ${f2(first.load.startedPerS / GOAL)}× the goal` +
      (ratio >= 1 ? " — MET" : ` — SHORT by ${f0(GOAL - first.load.startedPerS)} starts/s (${f0((1 - first.load.startedPerS / GOAL) * 100)}%)`),
  );
  const services = [...first.load.cpu].filter(([n]) => (CONTROL_PLANE as readonly string[]).includes(n)).sort((a, b) => b[1].mainThread - a[1].mainThread);
  const busiest = services[0];
  if (busiest !== undefined) {
    console.log(`busiest control-plane event loop under load: ${busiest[0]} (main thread ${f2(busiest[1].mainThread)} cores, busiest second ${f2(busiest[1].mainPeak)})`);
  }
  const totalCores = [...first.load.cpu].filter(([n]) => !n.startsWith("nats") && n !== MACHINE).reduce((a, [, v]) => a + v.cores, 0);
  console.log(
    `CPU under load: this run's processes ${f2(totalCores)} cores (${f1((totalCores * 1000) / first.load.startedPerS)} ms per start), the whole machine ${f2(first.load.cpu.get(MACHINE)?.cores ?? NaN)} of ${cpus().length}`,
  );
  console.log(`  at ${f1((totalCores * 1000) / first.load.startedPerS)} ms of CPU per start, ${GOAL} starts/s needs ${f1((totalCores * GOAL) / first.load.startedPerS)} cores`);
  for (const r of results) {
    console.log(
      `  ${r.hosts} hosts: the scheduler's one-at-a-time placement handler took ${f2(r.load.schedulerMeanMs)} ms per placement under load, a ceiling of ` +
        `${f0(1000 / r.load.schedulerMeanMs)} placements/s at that speed (busy ${f0(r.load.schedulerBusy * 100)}% of the window)`,
    );
  }
}
if (results.length === 0) process.exitCode = 1;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
async function sleepChecked(cleanup: Cleanup, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    cleanup.check();
    await sleep(Math.min(250, until - Date.now()));
  }
}
