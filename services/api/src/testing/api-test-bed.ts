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
import { derivedEventId } from "@shoal/domain";
import type { IpcPlan } from "@shoal/domain";
import { createEventStore } from "@shoal/event-store";
import type { EventStore } from "@shoal/event-store";
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
import { startFakeAgent } from "./fake-agent";
import type { FakeAgent } from "./fake-agent";

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
    const agent = startFakeAgent({ nats, host, logger });
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
