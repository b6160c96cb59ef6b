/**
 * For the api's int tests: the api started in-process on a fresh test database and a
 * random NATS prefix, a gRPC client for it, a fake agent that answers host commands and
 * publishes reports as the real one does, and helpers that append what the scheduler and
 * mount-manager would (they are other services, not running here). Not used in production.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { publishHostReport, serveHostCommands } from "@shoal/bus";
import type { HostCommandServer } from "@shoal/bus";
import { FailedPreconditionError, derivedEventId, NotFoundError } from "@shoal/domain";
import type { IpcPlan } from "@shoal/domain";
import { createEventStore } from "@shoal/event-store";
import type { EventStore } from "@shoal/event-store";
import { reportIds } from "@shoal/host-protocol";
import { connectTestNats, createTestDatabase } from "@shoal/testing";
import type { TestDatabase, TestNats } from "@shoal/testing";
import { runContainerCommand } from "../api-context";
import type { ApiTimeouts } from "../api-context";
import { readContainer } from "../container-record";
import type { ContainerRecord } from "../container-record";
import { loadShoalProtos } from "../health/shoal-protos";
import { resolveProtoDir } from "../server";
import { startApi } from "../start-api";
import type { RunningApi } from "../start-api";

export type Call = { command: string; payload: any };

/** A pretend runtime agent for one host: containers are records, processes are pids. */
export interface FakeAgent {
  host: string;
  calls: Call[];
  /** Makes the next StartContainer fail as the agent does (report + FAILED_PRECONDITION). */
  failNextStart(reason: string, exitCode: number): void;
  /** Reports the container's exit as the agent would. */
  exit(containerId: string, exitCode: number): Promise<void>;
  running: Map<string, { pid: number; paused: boolean }>;
  stop(): Promise<void>;
}

export interface ApiTestBed {
  database: TestDatabase;
  nats: TestNats;
  store: EventStore;
  api: RunningApi;
  rootfs: string;
  client: grpc.Client & Record<string, any>;
  call<T = any>(method: string, request: object): Promise<T>;
  agent: FakeAgent;
  startAgent(host: string): FakeAgent;
  eventCount(): Promise<number>;
  /** Waits for ContainerStartRequested, then appends ContainerScheduled and ContainerIpcPrepared. */
  schedule(containerId: string, plan: IpcPlan | ((r: ContainerRecord) => IpcPlan), host?: string): Promise<void>;
  /** Start through the RPC while playing scheduler and mount-manager. */
  start(ref: string, plan: IpcPlan | ((r: ContainerRecord) => IpcPlan), host?: string): Promise<any>;
  close(): Promise<void>;
}

export async function createApiTestBed(opts: { timeouts?: Partial<ApiTimeouts> } = {}): Promise<ApiTestBed> {
  const database = await createTestDatabase();
  const nats = await connectTestNats();
  const store = createEventStore({ db: database.db });
  const rootfs = await mkdtemp(path.join(tmpdir(), "shoal-api-rootfs-"));
  const logger = pino({ level: process.env.SHOAL_TEST_LOG ?? "silent" });
  const api = await startApi({
    databaseUrl: database.url,
    natsUrl: process.env.SHOAL_NATS_URL ?? "nats://127.0.0.1:4222",
    prefix: nats.prefix,
    apiAddr: "127.0.0.1:0",
    metricsPort: 0,
    logger,
    timeouts: { startMs: 20_000, hostCommandMs: 3_000, hostStartMs: 5_000, ...opts.timeouts },
  });
  const definition = loadShoalProtos(resolveProtoDir());
  const Ctor = grpc.makeGenericClientConstructor(definition["shoal.v1.Containers"] as grpc.ServiceDefinition, "Containers");
  const client = new Ctor(api.address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
  const call = <T>(method: string, request: object) =>
    new Promise<T>((resolve, reject) => client[method](request, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res))));

  const agents: FakeAgent[] = [];
  const startAgent = (host: string): FakeAgent => {
    const calls: Call[] = [];
    const running = new Map<string, { pid: number; paused: boolean }>();
    let nextPid = 1000;
    let failure: { reason: string; exitCode: number } | undefined;
    const report = (type: string, reportId: string, payload: unknown) =>
      publishHostReport(nats.js, { prefix: nats.prefix, host, type, reportId, payload });
    const exit = async (containerId: string, exitCode: number) => {
      const c = running.get(containerId);
      if (!c) return;
      running.delete(containerId);
      await report("ContainerExited", reportIds.containerExited(containerId, c.pid), {
        containerId,
        pid: c.pid,
        exitCode,
        exitedAt: new Date().toISOString(),
        foundAtRecovery: false,
      });
    };
    const live = (id: string) => {
      const c = running.get(id);
      if (!c) throw new FailedPreconditionError(`container ${id} is not running`);
      return c;
    };
    const rec = (command: string) => async (payload: any) => {
      calls.push({ command, payload });
      switch (command) {
        case "StartContainer": {
          if (failure) {
            const f = failure;
            failure = undefined;
            await report("ContainerStartFailed", reportIds.containerStartFailed(payload.containerId, payload.attemptId), {
              containerId: payload.containerId,
              reason: f.reason,
              exitCode: f.exitCode,
            });
            throw new FailedPreconditionError(`start of container ${payload.containerId} failed (exit code ${f.exitCode}): ${f.reason}`);
          }
          const pid = nextPid++;
          running.set(payload.containerId, { pid, paused: false });
          const runtime = { ...payload.runtime, args: payload.runtime.args ?? [], binaryPath: payload.runtime.path };
          await report("ContainerStarted", reportIds.containerStarted(payload.containerId, pid), {
            containerId: payload.containerId,
            pid,
            ipcNamespaceInode: 4026531839,
            runtime,
            startedAt: new Date().toISOString(),
          });
          return { containerId: payload.containerId, pid, runtime, alreadyRunning: false };
        }
        case "StopContainer":
          if (!running.has(payload.containerId)) return { alreadyStopped: true };
          await exit(payload.containerId, 143);
          return { alreadyStopped: false, exitCode: 143 };
        case "KillContainer":
          live(payload.containerId);
          if (payload.signal === 9) await exit(payload.containerId, 137);
          return { signal: payload.signal };
        case "PauseContainer":
          live(payload.containerId).paused = true;
          return { paused: true };
        case "UnpauseContainer":
          live(payload.containerId).paused = false;
          return { paused: false };
        case "ExecInContainer":
          live(payload.containerId);
          return { exitCode: 3, stdout: `ran ${payload.args.join(" ")}\n`, stderr: "warn\n" };
        case "ReadLogs":
          return { stdout: "hello\n", stderr: "" };
        case "DeleteContainer":
          if (running.has(payload.containerId)) {
            if (!payload.force) throw new FailedPreconditionError("running");
            await exit(payload.containerId, 137);
          }
          return { deleted: true };
        default:
          throw new NotFoundError(`unexpected ${command}`);
      }
    };
    const names = ["StartContainer", "StopContainer", "KillContainer", "PauseContainer", "UnpauseContainer", "ExecInContainer", "ReadLogs", "DeleteContainer"];
    const server: HostCommandServer = serveHostCommands(nats.nc, {
      prefix: nats.prefix,
      host,
      handlers: Object.fromEntries(names.map((n) => [n, rec(n)])),
      logger: logger,
    });
    const agent: FakeAgent = {
      host,
      calls,
      running,
      exit,
      failNextStart: (reason, exitCode) => (failure = { reason, exitCode }),
      stop: () => server.stop(),
    };
    agents.push(agent);
    return agent;
  };
  const agent = startAgent("h1");
  await nats.nc.flush();

  const schedule: ApiTestBed["schedule"] = async (containerId, plan, host = "h1") => {
    const deadline = Date.now() + 10_000;
    let r = await readContainer(store, containerId);
    while (r.state.status !== "starting") {
      if (Date.now() > deadline) throw new Error(`container ${containerId} never reached starting (status ${r.state.status})`);
      await new Promise((res) => setTimeout(res, 20));
      r = await readContainer(store, containerId);
    }
    const cause = `${containerId}:${r.lastStartRequestedVersion}`;
    await runContainerCommand(
      { store },
      { type: "RecordScheduled", data: { containerId, now: new Date().toISOString(), host } },
      { eventIdOf: () => derivedEventId(`test-scheduled:${cause}`) },
    );
    await runContainerCommand(
      { store },
      { type: "RecordIpcPrepared", data: { containerId, now: new Date().toISOString(), plan: typeof plan === "function" ? plan(r) : plan } },
      { eventIdOf: () => derivedEventId(`test-ipc:${cause}`) },
    );
  };

  const start: ApiTestBed["start"] = async (ref, plan, host) => {
    const pending = call("StartContainer", { container: ref });
    const id = ref.length === 64 ? ref : (await call<any>("InspectContainer", { container: ref })).container.id;
    await Promise.race([schedule(id, plan, host).catch(() => undefined), pending]);
    return pending;
  };

  return {
    database,
    nats,
    store,
    api,
    rootfs,
    client,
    call,
    agent,
    startAgent,
    schedule,
    start,
    async eventCount() {
      const row = await database.db.selectFrom("events").select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow();
      return Number(row.n);
    },
    async close() {
      client.close();
      for (const a of agents) await a.stop();
      await api.stop();
      await nats.cleanup();
      await database.drop();
      await rm(rootfs, { recursive: true, force: true });
    },
  };
}
