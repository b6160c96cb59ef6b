import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectTestNats, createTestDatabase } from "@shoal/testing";
import type { TestDatabase, TestNats } from "@shoal/testing";
import { loadShoalProtos } from "./health/shoal-protos";
import { resolveProtoDir } from "./server";

// The api as its own process, wired by main.ts from the environment: it migrates, serves
// gRPC and /metrics, and on SIGTERM stops cleanly (exit code 0).

let database: TestDatabase;
let nats: TestNats;
beforeAll(async () => {
  database = await createTestDatabase();
  nats = await connectTestNats();
});
afterAll(async () => {
  await nats?.cleanup();
  await database?.drop();
});

describe("main", () => {
  it("starts from the environment, answers over gRPC, and exits 0 on SIGTERM", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./main.ts", import.meta.url))], {
      env: {
        ...process.env,
        SHOAL_DATABASE_URL: database.url,
        SHOAL_SUBJECT_PREFIX: nats.prefix,
        SHOAL_API_ADDR: "127.0.0.1:0",
        SHOAL_METRICS_PORT: "0",
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<number | string | null>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)));
    try {
      const started = await new Promise<{ address: string; metricsPort: number }>((resolve, reject) => {
        let buf = "";
        child.stdout!.on("data", (d: Buffer) => {
          buf += d.toString();
          for (const line of buf.split("\n")) {
            if (line.includes('"api started"')) resolve(JSON.parse(line));
          }
        });
        void exited.then((c) => reject(new Error(`api exited early (${c})`)));
      });
      const def = loadShoalProtos(resolveProtoDir());
      const Ctor = grpc.makeGenericClientConstructor(def["shoal.v1.Containers"] as grpc.ServiceDefinition, "Containers");
      const c = new Ctor(started.address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
      const err = await new Promise<grpc.ServiceError>((resolve) => c.InspectContainer({ container: "nobody" }, (e: grpc.ServiceError) => resolve(e)));
      c.close();
      expect({ code: err.code, details: err.details }).toEqual({ code: grpc.status.NOT_FOUND, details: "No such container: nobody" });
      const metrics = await (await fetch(`http://127.0.0.1:${started.metricsPort}/metrics`)).text();
      expect(metrics).toContain('shoal_api_requests_total{method="Containers/InspectContainer",code="NOT_FOUND"} 1');
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });
});
