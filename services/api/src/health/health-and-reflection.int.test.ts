import { createRequire } from "node:module";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_PROTO_DIR, startTestGrpcServer, unary } from "./grpc-test-harness";
import type { TestGrpcServer } from "./grpc-test-harness";
import { registerHealthAndReflection } from "./health-and-reflection";
import type { HealthReporter } from "./health-and-reflection";

// What grpc_health_probe and grpcurl see on the api's port.

const SERVICES = ["shoal.v1.Containers", "shoal.v1.Events", "shoal.v1.Config", "shoal.v1.Hosts"];

let grpcServer: TestGrpcServer;
let reporter: HealthReporter;
let health: Record<string, any>;

const reflectionProtoDir = path.join(
  path.dirname(createRequire(import.meta.url).resolve("@grpc/reflection/package.json")),
  "build",
  "proto",
);

beforeAll(async () => {
  grpcServer = await startTestGrpcServer((server) => {
    reporter = registerHealthAndReflection(server, { serviceNames: SERVICES, protoDir: REPO_PROTO_DIR });
  });
  const healthDef = loadSync(healthProtoPath, { keepCase: true, enums: String, defaults: true });
  const Health = grpc.makeGenericClientConstructor(healthDef["grpc.health.v1.Health"] as grpc.ServiceDefinition, "Health");
  health = new Health(grpcServer.address, grpc.credentials.createInsecure()) as unknown as Record<string, any>;
});

afterAll(async () => {
  (health as unknown as grpc.Client | undefined)?.close();
  await grpcServer?.close();
});

/** One request/response on a reflection stream of the given API version. */
async function reflect(version: "v1" | "v1alpha", request: object): Promise<any> {
  const def = loadSync(`grpc/reflection/${version}/reflection.proto`, {
    keepCase: true,
    defaults: true,
    oneofs: true,
    includeDirs: [reflectionProtoDir],
  });
  const name = `grpc.reflection.${version}.ServerReflection`;
  const Ctor = grpc.makeGenericClientConstructor(def[name] as grpc.ServiceDefinition, name);
  const client = new Ctor(grpcServer.address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
  try {
    const call = client.ServerReflectionInfo();
    const response = new Promise((resolve, reject) => {
      call.on("data", resolve);
      call.on("error", reject);
    });
    call.write(request);
    const res = await response;
    call.end();
    return res;
  } finally {
    client.close();
  }
}

describe("gRPC health", () => {
  it("reports SERVING overall and per registered service, NOT_FOUND for unknown ones", async () => {
    expect(await unary(health, "Check", { service: "" })).toEqual({ status: "SERVING" });
    for (const service of SERVICES) expect(await unary(health, "Check", { service })).toEqual({ status: "SERVING" });
    await expect(unary(health, "Check", { service: "shoal.v1.Nope" })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it("reports NOT_SERVING once the server starts stopping", async () => {
    reporter.setAllNotServing();
    try {
      expect(await unary(health, "Check", { service: "" })).toEqual({ status: "NOT_SERVING" });
      expect(await unary(health, "Check", { service: "shoal.v1.Events" })).toEqual({ status: "NOT_SERVING" });
    } finally {
      for (const s of ["", ...SERVICES]) reporter.setStatus(s, "SERVING");
    }
  });
});

describe("gRPC server reflection", () => {
  it.each(["v1", "v1alpha"] as const)("%s lists the Shoal services and the health service", async (version) => {
    const res = await reflect(version, { list_services: "" });
    const names = res.list_services_response.service.map((s: { name: string }) => s.name).sort();
    expect(names).toEqual([...SERVICES, "grpc.health.v1.Health"].sort());
  });

  it("describes a Shoal service from the repository's protos, imports included", async () => {
    const res = await reflect("v1", { file_containing_symbol: "shoal.v1.Events" });
    const files: Buffer[] = res.file_descriptor_response.file_descriptor_proto;
    expect(files.length).toBeGreaterThan(0);
    const text = Buffer.concat(files).toString("latin1");
    // proto-loader names descriptor files by package (`shoal_v1.proto`); the content is what counts.
    expect(text).toContain("shoal.v1");
    expect(text).toContain("SubscribeRequest");
    expect(text).toContain("since_cursor"); // the field names the .proto declares, not camelCase
    expect(text).toContain("google.protobuf");
    expect(text).toContain("Timestamp");
  });
});
