import { status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DAEMON_CONFIG_STREAM } from "@shoal/config";
import type { ConfigSnapshot } from "@shoal/config";
import { createEventStore } from "@shoal/event-store";
import type { EventStore } from "@shoal/event-store";
import { createTestDatabase } from "@shoal/testing";
import type { TestDatabase } from "@shoal/testing";
import { startTestGrpcServer, unary } from "../health/grpc-test-harness";
import type { TestGrpcServer } from "../health/grpc-test-harness";
import { loadConfigSnapshot, registerConfigService } from "./config-service";

// `shoal config show|set|reload` over a real gRPC client against the real event store.

interface ConfigResponse {
  version: string;
  configJson: string;
  changed: boolean;
}

let database: TestDatabase;
let store: EventStore;
let grpcServer: TestGrpcServer;
let config: Record<string, any>;
const swapped: ConfigSnapshot[] = [];
const counted: string[] = [];
const metrics = {
  requests: { inc: (l: { method: string; code: string }) => void counted.push(`${l.method} ${l.code}`) },
  requestDuration: { observe: () => {} },
};

beforeAll(async () => {
  database = await createTestDatabase();
  store = createEventStore({ db: database.db });
  grpcServer = await startTestGrpcServer((server, packageDefinition) =>
    registerConfigService(server, { packageDefinition, store, metrics, onChanged: (s) => swapped.push(s) }),
  );
  config = grpcServer.client("shoal.v1.Config");
});

afterAll(async () => {
  await grpcServer?.close();
  await database?.drop();
});

const show = () => unary<ConfigResponse>(config, "ShowConfig", {});
const set = (...assignments: string[]) => unary<ConfigResponse>(config, "SetConfig", { assignments });
const reload = (configJson: string) => unary<ConfigResponse>(config, "ReloadConfig", { configJson });
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("expected a refusal");
    },
    (err: ServiceError) => err,
  );

describe("Config service", () => {
  it("shows the built-in defaults as version 0 before anything was set", async () => {
    const res = await show();
    expect(res.version).toBe("0");
    expect(res.changed).toBe(false);
    expect(JSON.parse(res.configJson)).toMatchObject({
      "default-ipc-mode": "private",
      "default-shm-size": "64m",
      experimental: false,
      "default-runtime": "runc",
    });
  });

  it("records each change as a new version, and a no-op set as unchanged", async () => {
    const first = await set("experimental=true", "default-shm-size=128m");
    expect(first).toMatchObject({ version: "1", changed: true });
    expect(JSON.parse(first.configJson)).toMatchObject({ experimental: true, "default-shm-size": "128m" });

    const again = await set("experimental=true");
    expect(again).toMatchObject({ version: "1", changed: false });
    expect(again.configJson).toBe(first.configJson);

    expect(await show()).toEqual({ ...first, changed: false });
    const recorded = await store.readStream(DAEMON_CONFIG_STREAM);
    expect(recorded.map((e) => [e.type, (e.data as { version: number }).version])).toEqual([["DaemonConfigChanged", 1]]);
    expect(swapped.map((s) => [s.version, s.config.experimental])).toEqual([[1, true]]);
  });

  it("refuses an invalid config whole with INVALID_ARGUMENT, appends nothing and keeps the previous one", async () => {
    const before = await show();
    const bad = await refusal(set("experimental=true", "default-ipc-mode=host", "default-shm-size=-1"));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/^invalid daemon config: /);
    expect(bad.details).toMatch(/default-ipc-mode/);
    expect(bad.details).toMatch(/default-shm-size/);

    const notJson = await refusal(reload("{ not json"));
    expect(notJson.code).toBe(status.INVALID_ARGUMENT);
    expect(notJson.details).toMatch(/not valid JSON/);

    const unknownKey = await refusal(reload(JSON.stringify({ "no-such-key": 1 })));
    expect(unknownKey.code).toBe(status.INVALID_ARGUMENT);

    const empty = await refusal(set());
    expect(empty.code).toBe(status.INVALID_ARGUMENT);

    expect(await show()).toEqual(before);
    expect(await store.readStream(DAEMON_CONFIG_STREAM)).toHaveLength(Number(before.version));
    expect(counted).toContain("Config/SetConfig INVALID_ARGUMENT");
    expect(counted).toContain("Config/ReloadConfig INVALID_ARGUMENT");
  });

  it("reload replaces the whole config: keys left out go back to their defaults", async () => {
    const res = await reload(JSON.stringify({ "default-ipc-mode": "shareable", runtimes: { crun: { path: "/usr/bin/crun" } } }));
    expect(res.changed).toBe(true);
    const json = JSON.parse(res.configJson);
    expect(json).toMatchObject({
      "default-ipc-mode": "shareable",
      experimental: false,
      "default-shm-size": "64m",
      runtimes: { crun: { path: "/usr/bin/crun" } },
    });
    // What other services read at start is what the api answered.
    const snapshot = await loadConfigSnapshot(store);
    expect(snapshot.version).toBe(Number(res.version));
    expect(snapshot.config.defaultIpcMode).toBe("shareable");
    expect(Object.isFrozen(snapshot.config)).toBe(true);
  });

  it("gives concurrent changes distinct consecutive versions, none lost", async () => {
    const start = Number((await show()).version);
    const sizes = ["65m", "66m", "67m", "68m"];
    const results = await Promise.all(sizes.map((s) => set(`default-shm-size=${s}`)));
    expect(results.every((r) => r.changed)).toBe(true);
    expect(results.map((r) => Number(r.version)).sort()).toEqual([start + 1, start + 2, start + 3, start + 4]);
    const recorded = await store.readStream(DAEMON_CONFIG_STREAM);
    expect(recorded.map((e) => (e.data as { version: number }).version)).toEqual(
      Array.from({ length: start + 4 }, (_, i) => i + 1),
    );
  });
});
