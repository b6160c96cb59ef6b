import { status } from "@grpc/grpc-js";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "@shoal/testing";
import type { TestDatabase } from "@shoal/testing";
import { startTestGrpcServer, unary } from "../health/grpc-test-harness";
import type { TestGrpcServer } from "../health/grpc-test-harness";
import { createPostgresHostsReader } from "./hosts-reader";
import { registerHostsService } from "./hosts-service";

// `shoal hosts` over a real gRPC client, reading the scheduler's projection tables.

let database: TestDatabase;
let grpcServer: TestGrpcServer;
let hosts: Record<string, any>;

beforeAll(async () => {
  // The scheduler's tables come from its migrations (0200, 0201), as in production.
  database = await createTestDatabase();
  grpcServer = await startTestGrpcServer((server, packageDefinition) =>
    registerHostsService(server, { packageDefinition, db: database.db }),
  );
  hosts = grpcServer.client("shoal.v1.Hosts");
});

afterAll(async () => {
  await grpcServer?.close();
  await database?.drop();
});

describe("Hosts.ListHosts", () => {
  it("answers an empty list before any agent registered", async () => {
    expect(await unary(hosts, "ListHosts", {})).toEqual({ hosts: [] });
  });

  it("lists every host with its status, heartbeat, capabilities and the memory its containers reserve", async () => {
    const caps = { kernel: "6.1.0", cgroup: "v1", runtimes: { runc: { features: { rro: false } } }, apparmor: false };
    await database.db
      .insertInto("hosts")
      .values([
        {
          name: "h2",
          status: "lost",
          capabilities: JSON.stringify({ kernel: "5.10.0" }),
          memory_bytes: "1073741824",
          registered_at: new Date("2026-01-01T00:00:00Z"),
          last_heartbeat: null,
          lost_at: new Date("2026-01-01T00:01:00Z"),
          lost_reason: "no heartbeat for 15s",
        },
        {
          name: "h1",
          status: "ready",
          capabilities: JSON.stringify(caps),
          memory_bytes: "8589934592",
          registered_at: new Date("2026-01-01T00:00:00Z"),
          last_heartbeat: new Date("2026-01-01T00:00:05.250Z"),
        },
      ])
      .execute();
    const placement = (id: string, host: string, bytes: number) => ({
      container_id: id.repeat(64),
      container_name: `c${id}`,
      host,
      reserved_bytes: String(bytes),
      scheduled_version: 3,
      scheduled_at: new Date(),
    });
    await database.db
      .insertInto("placements")
      .values([placement("a", "h1", 67108864), placement("b", "h1", 134217728)])
      .execute();

    const res = await unary<{ hosts: any[] }>(hosts, "ListHosts", {});
    expect(res.hosts.map((h) => h.name)).toEqual(["h1", "h2"]);
    const [h1, h2] = res.hosts;
    expect(h1).toMatchObject({
      status: "ready",
      lastHeartbeat: { seconds: String(Date.parse("2026-01-01T00:00:05Z") / 1000), nanos: 250_000_000 },
      memoryBytes: "8589934592",
      memoryReservedBytes: String(67108864 + 134217728),
      containers: 2,
    });
    expect(JSON.parse(h1.capabilitiesJson)).toEqual(caps);
    expect(h2).toMatchObject({ status: "lost", lastHeartbeat: null, memoryReservedBytes: "0", containers: 0 });
  });

  it("answers UNAVAILABLE, not INTERNAL, while the scheduler's tables are missing", async () => {
    const bare = await createTestDatabase();
    const server = await startTestGrpcServer((s, packageDefinition) =>
      registerHostsService(s, { packageDefinition, hosts: createPostgresHostsReader(bare.db) }),
    );
    try {
      await sql`DROP TABLE IF EXISTS placements`.execute(bare.db);
      await expect(unary(server.client("shoal.v1.Hosts"), "ListHosts", {})).rejects.toMatchObject({
        code: status.UNAVAILABLE,
        details: "the scheduler's hosts tables are not there yet (run the migrations)",
      });
    } finally {
      await server.close();
      await bare.drop();
    }
  });
});
