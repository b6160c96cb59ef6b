import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerStreamId, derivedEventId } from "@shoal/domain";
import { createEventStore } from "@shoal/event-store";
import type { EventStore } from "@shoal/event-store";
import { connectTestNats, createTestDatabase } from "@shoal/testing";
import type { TestDatabase, TestNats } from "@shoal/testing";
import { runContainerCommand } from "./api-context";
import { readContainer } from "./container-record";
import { loadShoalProtos } from "./health/shoal-protos";
import { resolveProtoDir } from "./server";
import { startFakeAgent } from "./testing/fake-agent";
import type { FakeAgent } from "./testing/fake-agent";

// kill -9 of the api (relay, dispatcher, recorder and the waiting RPCs all in it) in the
// middle of concurrent starts, then a restart: every container ends running, none is
// started twice, and nothing is left unpublished in the outbox.

const COUNT = 12;
let database: TestDatabase;
let nats: TestNats;
let store: EventStore;
let agent: FakeAgent;
let rootfs: string;
let api: ChildProcess | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
  nats = await connectTestNats();
  store = createEventStore({ db: database.db });
  agent = startFakeAgent({ nats, host: "h1", logger: pino({ level: "silent" }) });
  rootfs = await mkdtemp(path.join(tmpdir(), "shoal-api-crash-"));
});
afterAll(async () => {
  api?.kill("SIGKILL");
  await agent?.stop();
  await nats?.cleanup();
  await database?.drop();
  if (rootfs) await rm(rootfs, { recursive: true, force: true });
});

async function startApiProcess(): Promise<{ child: ChildProcess; address: string }> {
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
  api = child;
  const address = await new Promise<string>((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const line = buf.split("\n").find((l) => l.includes('"api started"'));
      if (line) resolve(JSON.parse(line).address);
    });
    child.on("exit", (code, signal) => reject(new Error(`api exited early (${signal ?? code})`)));
  });
  return { child, address };
}

function containersClient(address: string): grpc.Client & Record<string, any> {
  const def = loadShoalProtos(resolveProtoDir());
  const Ctor = grpc.makeGenericClientConstructor(def["shoal.v1.Containers"] as grpc.ServiceDefinition, "Containers");
  return new Ctor(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
}

const unary = <T = any>(c: Record<string, any>, method: string, req: object) =>
  new Promise<T>((resolve, reject) => c[method](req, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res))));

/** Plays scheduler and mount-manager: places every container that waits to be, with derived ids. */
function standIn(ids: string[]): () => void {
  let running = true;
  void (async () => {
    while (running) {
      for (const containerId of ids) {
        const r = await readContainer(store, containerId).catch(() => undefined);
        if (r?.state.status !== "starting") continue;
        const cause = `${containerId}:${r.lastStartRequestedVersion}`;
        const now = new Date().toISOString();
        await runContainerCommand({ store }, { type: "RecordScheduled", data: { containerId, now, host: "h1" } }, { eventIdOf: () => derivedEventId(`crash-s:${cause}`) }).catch(() => undefined);
        await runContainerCommand(
          { store },
          { type: "RecordIpcPrepared", data: { containerId, now, plan: { mode: "private", shmSizeBytes: 65536 } } },
          { eventIdOf: () => derivedEventId(`crash-i:${cause}`) },
        ).catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, 30));
    }
  })();
  return () => {
    running = false;
  };
}

async function startedCount(ids: string[]): Promise<number> {
  let n = 0;
  for (const id of ids) if ((await store.readStream(containerStreamId(id))).some((e) => e.type === "ContainerStarted")) n++;
  return n;
}

describe("api killed mid-start", () => {
  it("leaves every container running exactly once after a restart", { timeout: 150_000 }, async () => {
    const log = (m: string) => process.stderr.write(`[crash] ${new Date().toISOString()} ${m}\n`);
    const first = await startApiProcess();
    let client = containersClient(first.address);
    const ids: string[] = [];
    for (let i = 0; i < COUNT; i++) ids.push((await unary(client, "CreateContainer", { name: `c${i}`, rootfs, args: ["sleep", "1"] })).id);
    // Only half are placed before the kill, so it always lands with starts still in the
    // pipeline (the rest of a start takes a few milliseconds: all 12 could finish first).
    let stop = standIn(ids.slice(0, COUNT / 2));
    try {
      // All starts in flight at once; the RPCs die with the api.
      for (const id of ids) unary(client, "StartContainer", { container: id }).catch(() => undefined);
      await expect.poll(() => startedCount(ids), { timeout: 30_000, interval: 5 }).toBeGreaterThanOrEqual(2);
      first.child.kill("SIGKILL");
      await new Promise((r) => first.child.once("exit", r));
      client.close();
      const midway = await startedCount(ids);
      stop();
      stop = standIn(ids);

      const second = await startApiProcess();
      client = containersClient(second.address);
      try {
        await expect.poll(() => startedCount(ids), { timeout: 60_000, interval: 200 }).toBe(COUNT);
      } catch (err) {
        const statuses = await Promise.all(ids.map(async (id) => (await readContainer(store, id)).state.status));
        throw new Error(`not all running after the restart (midway ${midway}): ${statuses.join(", ")}`, { cause: err });
      }
      log(`started before the kill: ${midway} of ${COUNT}`);
      // The kill landed mid-flow: some starts were still in the pipeline.
      expect(midway).toBeLessThan(COUNT);

      for (const id of ids) {
        const types = (await store.readStream(containerStreamId(id))).map((e) => e.type);
        expect(types.filter((t) => t === "ContainerStarted")).toHaveLength(1);
        expect(types).not.toContain("ContainerStartFailed");
        expect(agent.running.has(id)).toBe(true);
        expect(await unary(client, "StartContainer", { container: id })).toMatchObject({ alreadyRunning: true, host: "h1" });
      }
      // One process per container on the host: a repeated StartContainer (after the kill) was answered as already running.
      expect(new Set([...agent.running.values()].map((c) => c.pid)).size).toBe(COUNT);
      await expect
        .poll(async () => Number((await database.db.selectFrom("outbox").select((eb) => eb.fn.countAll<string>().as("n")).where("sent_at", "is", null).executeTakeFirstOrThrow()).n), { timeout: 10_000 })
        .toBe(0);
      client.close();
      second.child.kill("SIGTERM");
      expect(await new Promise((r) => second.child.once("exit", (code) => r(code)))).toBe(0);
      api = undefined;
    } finally {
      stop();
    }
  });
});
