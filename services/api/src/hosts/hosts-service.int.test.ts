import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import type { Kysely } from "kysely";
import { sql } from "kysely";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { publishHeartbeat } from "@shoal/bus";
import { CONTAINER_EVENT_SCHEMA_VERSIONS, HOST_EVENT_SCHEMA_VERSIONS, containerStreamId, hostStreamId } from "@shoal/domain";
import type { ContainerEvent, HostCapabilities, HostEvent } from "@shoal/domain";
import { createEventStore } from "@shoal/event-store";
import type { EventStore, ProjectionRunner } from "@shoal/event-store";
import { connectTestNats, createTestDatabase } from "@shoal/testing";
import type { TestDatabase, TestNats } from "@shoal/testing";
import type { ApiDatabase } from "../api-database";
import { startTestGrpcServer, unary } from "../health/grpc-test-harness";
import type { TestGrpcServer } from "../health/grpc-test-harness";
import { startHeartbeatRecorder } from "./heartbeat-recorder";
import type { HeartbeatRecorder } from "./heartbeat-recorder";
import { createHostsProjection } from "./hosts-projection";
import { createPostgresHostsReader } from "./hosts-reader";
import { registerHostsService } from "./hosts-service";

// `shoal hosts` over a real gRPC client, answered from the api's own hosts projection,
// kept from events appended to the log and from heartbeats on NATS.

let database: TestDatabase;
let db: Kysely<ApiDatabase>;
let nats: TestNats;
let store: EventStore;
let projection: ProjectionRunner;
let heartbeats: HeartbeatRecorder;
let grpcServer: TestGrpcServer;
let hosts: Record<string, any>;
/** The time the heartbeat recorder says it received a heartbeat. */
let heartbeatClock = new Date("2026-01-01T00:00:05.250Z");

beforeAll(async () => {
  database = await createTestDatabase();
  db = database.db;
  nats = await connectTestNats();
  store = createEventStore({ db });
  projection = createHostsProjection({ db, pool: database.pool });
  heartbeats = startHeartbeatRecorder({ db, nc: nats.nc, prefix: nats.prefix, logger: pino({ level: "silent" }), now: () => heartbeatClock });
  grpcServer = await startTestGrpcServer((server, packageDefinition) =>
    registerHostsService(server, { packageDefinition, hosts: createPostgresHostsReader({ db, projection }) }),
  );
  hosts = grpcServer.client("shoal.v1.Hosts");
});

afterAll(async () => {
  await grpcServer?.close();
  await heartbeats?.stop();
  await nats?.cleanup();
  await database?.drop();
});

const caps = (kernelVersion: string): HostCapabilities => ({
  kernelVersion,
  cgroupVersion: "v2",
  runtimes: [{ name: "runc", path: "/usr/bin/runc", rro: { supported: false, reason: "kernel too old" } }],
  apparmor: { enabled: false },
  criu: { available: false, reason: "not installed" },
  stateRoot: "/var/lib/shoal",
});

async function append(streamId: string, events: readonly (HostEvent | ContainerEvent)[]): Promise<void> {
  await store.appendToStream(
    streamId,
    "any",
    events.map((e) => ({
      eventId: randomUUID(),
      type: e.type,
      schemaVersion: e.type.startsWith("Host")
        ? HOST_EVENT_SCHEMA_VERSIONS[e.type as HostEvent["type"]]
        : CONTAINER_EVENT_SCHEMA_VERSIONS[e.type as ContainerEvent["type"]],
      data: e.data,
      metadata: {},
    })),
  );
}

const scheduled = (id: string, host: string, reservedBytes: number, reservedNanoCpus?: number): ContainerEvent => ({
  type: "ContainerScheduled",
  data: { containerId: id, host, scheduledAt: "2026-01-01T00:00:01Z", reservedBytes, ...(reservedNanoCpus === undefined ? {} : { reservedNanoCpus }) },
});
const exited = (id: string): ContainerEvent => ({
  type: "ContainerExited",
  data: { containerId: id, exitCode: 0, exitedAt: "2026-01-01T00:00:02Z", oomKilled: false },
});

/** The projection's rows, heartbeat times left out (they are not in the log). */
async function projectedRows() {
  return {
    hosts: await db.selectFrom("api_hosts").select(["name", "status", "capabilities", "memory_bytes", "nano_cpus", "registered_at"]).orderBy("name").execute(),
    placements: await db.selectFrom("api_placements").selectAll().orderBy("container_id").execute(),
  };
}

describe("Hosts.ListHosts", () => {
  it("answers an empty list before any agent registered", async () => {
    expect(await unary(hosts, "ListHosts", {})).toEqual({ hosts: [] });
  });

  it("lists every host with its status, heartbeat, capabilities and the memory and CPUs its containers reserve", async () => {
    await append(hostStreamId("h2"), [
      { type: "HostRegistered", data: { host: "h2", capabilities: caps("5.10.0"), memoryBytes: 1073741824, registeredAt: "2026-01-01T00:00:00.000Z" } },
      {
        type: "HostLost",
        data: { host: "h2", registeredAt: "2026-01-01T00:00:00.000Z", lastSeenAt: "2026-01-01T00:00:01Z", reason: "no heartbeat for 15s", lostAt: "2026-01-01T00:01:00Z" },
      },
    ]);
    await append(hostStreamId("h1"), [
      {
        type: "HostRegistered",
        data: { host: "h1", capabilities: caps("6.1.0"), memoryBytes: 8589934592, nanoCpus: 4_000_000_000, registeredAt: "2026-01-01T00:00:00.000Z" },
      },
    ]);
    const [a, b, c, d] = ["a", "b", "c", "d"].map((x) => x.repeat(64)) as [string, string, string, string];
    await append(containerStreamId(a), [scheduled(a, "h1", 67108864, 1_500_000_000)]);
    // Placed, exited and placed again: it holds its newest placement.
    await append(containerStreamId(b), [scheduled(b, "h2", 1, 7), exited(b), scheduled(b, "h1", 134217728, 250_000_000)]);
    // Exited: it holds nothing any more.
    await append(containerStreamId(c), [scheduled(c, "h1", 999), exited(c)]);
    // Placed before ContainerScheduled carried its reservation: counted, with 0 bytes.
    await append(containerStreamId(d), [{ type: "ContainerScheduled", data: { containerId: d, host: "h2", scheduledAt: "2026-01-01T00:00:01Z" } }]);

    // Read once so the projection has h1's row, then a heartbeat of h1 (and of a host it does not know).
    await unary(hosts, "ListHosts", {});
    publishHeartbeat(nats.nc, { prefix: nats.prefix, host: "h1" });
    publishHeartbeat(nats.nc, { prefix: nats.prefix, host: "nobody" });
    await vi.waitFor(async () => {
      const r = await db.selectFrom("api_hosts").select("last_heartbeat").where("name", "=", "h1").executeTakeFirstOrThrow();
      expect(r.last_heartbeat).not.toBeNull();
    });

    const res = await unary<{ hosts: any[] }>(hosts, "ListHosts", {});
    expect(res.hosts.map((h) => h.name)).toEqual(["h1", "h2"]);
    const [h1, h2] = res.hosts;
    expect(h1).toMatchObject({
      status: "ready",
      lastHeartbeat: { seconds: String(Date.parse("2026-01-01T00:00:05Z") / 1000), nanos: 250_000_000 },
      memoryBytes: "8589934592",
      memoryReservedBytes: String(67108864 + 134217728),
      containers: 2,
      nanoCpus: "4000000000",
      nanoCpusReserved: "1750000000",
    });
    expect(JSON.parse(h1.capabilitiesJson)).toEqual(caps("6.1.0"));
    // Registered without a CPU count (0: CPUs do not limit it); d was placed before reservations were recorded.
    expect(h2).toMatchObject({
      status: "lost",
      lastHeartbeat: null,
      memoryBytes: "1073741824",
      memoryReservedBytes: "0",
      containers: 1,
      nanoCpus: "0",
      nanoCpusReserved: "0",
    });
  });

  it("a heartbeat never moves the time back, and a new registration starts the host ready with none", async () => {
    heartbeatClock = new Date("2026-01-01T00:00:04Z");
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // past the recorder's one write a second
    publishHeartbeat(nats.nc, { prefix: nats.prefix, host: "h1" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = await unary<{ hosts: any[] }>(hosts, "ListHosts", {});
    expect(before.hosts[0].lastHeartbeat).toEqual({ seconds: String(Date.parse("2026-01-01T00:00:05Z") / 1000), nanos: 250_000_000 });

    await append(hostStreamId("h1"), [
      { type: "HostRegistered", data: { host: "h1", capabilities: caps("6.2.0"), memoryBytes: 4294967296, registeredAt: "2026-01-02T00:00:00.000Z" } },
    ]);
    await append(hostStreamId("h2"), [
      { type: "HostRegistered", data: { host: "h2", capabilities: caps("5.10.0"), memoryBytes: 1073741824, registeredAt: "2026-01-02T00:00:00.000Z" } },
    ]);
    const after = await unary<{ hosts: any[] }>(hosts, "ListHosts", {});
    // The new registration reported no CPUs: the old count does not linger.
    expect(after.hosts[0]).toMatchObject({ name: "h1", status: "ready", lastHeartbeat: null, memoryBytes: "4294967296", containers: 2, nanoCpus: "0" });
    expect(after.hosts[1]).toMatchObject({ name: "h2", status: "ready", lastHeartbeat: null });
    // A HostLost of the registration before does not touch the one in force.
    await append(hostStreamId("h1"), [
      {
        type: "HostLost",
        data: { host: "h1", registeredAt: "2026-01-01T00:00:00.000Z", lastSeenAt: "2026-01-01T00:00:05Z", reason: "late", lostAt: "2026-01-02T00:00:01Z" },
      },
    ]);
    expect((await unary<{ hosts: any[] }>(hosts, "ListHosts", {})).hosts[0].status).toBe("ready");
  });

  it("rebuilt from the log, it has the same rows", async () => {
    await projection.catchUp();
    const before = await projectedRows();
    expect(before.hosts).toHaveLength(2);
    expect(before.placements).toHaveLength(3);
    await projection.rebuild();
    expect(await projectedRows()).toEqual(before);
  });

  it("answers UNAVAILABLE, not INTERNAL, while its tables are missing", async () => {
    const bare = await createTestDatabase();
    const bareProjection = createHostsProjection({ db: bare.db, pool: bare.pool });
    const server = await startTestGrpcServer((s, packageDefinition) =>
      registerHostsService(s, { packageDefinition, hosts: createPostgresHostsReader({ db: bare.db, projection: bareProjection }) }),
    );
    try {
      await sql`DROP TABLE IF EXISTS api_placements`.execute(bare.db);
      await expect(unary(server.client("shoal.v1.Hosts"), "ListHosts", {})).rejects.toMatchObject({
        code: status.UNAVAILABLE,
        details: "the api's hosts tables are not there yet (run the migrations)",
      });
    } finally {
      await server.close();
      await bare.drop();
    }
  });
});
