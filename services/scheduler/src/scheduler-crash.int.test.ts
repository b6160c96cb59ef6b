import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerStreamId, derivedEventId } from "@shoal/domain";
import type { EventStore } from "@shoal/event-store";
import { publishHeartbeat } from "@shoal/bus";
import type { TestDatabase, TestNats } from "@shoal/testing";
import { sql } from "kysely";
import { ACTIVE_LOCK_APPLICATION_NAME } from "./active-lock";
import { requestStart } from "./testing/container-requests";
import { publishRegistration, startSchedulerTestInfra } from "./testing/test-infra";
import type { SchedulerTestInfra } from "./testing/test-infra";

// The scheduler as its own process (src/main.ts), SIGKILLed in the middle of 20 concurrent
// starts and started again: every start is answered exactly once, and the restarted one
// counts every placement (the host has room for exactly 20). Losing its active-scheduler
// lock makes it exit with status 1.

const SHM = 64 * 1024 * 1024;
const mainScript = fileURLToPath(new URL("./main.ts", import.meta.url));

let infra: SchedulerTestInfra | undefined;
let database: TestDatabase;
let nats: TestNats;
let store: EventStore;
let child: { process: ChildProcess; exited: Promise<unknown> } | undefined;
let beat: NodeJS.Timeout | undefined;

function startChild(): { process: ChildProcess; exited: Promise<unknown> } {
  const p = spawn(process.execPath, ["--import", "tsx", mainScript], {
    env: {
      ...process.env,
      SHOAL_DATABASE_URL: database.url,
      SHOAL_SUBJECT_PREFIX: nats.prefix,
      SHOAL_METRICS_PORT: "0",
    },
    stdio: ["ignore", "ignore", process.env.SHOAL_TEST_LOG ? "inherit" : "ignore"],
  });
  const exited = new Promise((resolve) => p.on("exit", (code, signal) => resolve(signal ?? code)));
  return { process: p, exited };
}

beforeAll(async () => {
  infra = await startSchedulerTestInfra();
  ({ database, nats, store } = infra);
});

afterAll(async () => {
  if (beat) clearInterval(beat);
  if (child && child.process.exitCode === null && child.process.signalCode === null) {
    child.process.kill("SIGTERM");
    await child.exited;
  }
  await infra?.close();
});


async function createAndStart(containerId: string, name: string): Promise<void> {
  await requestStart(store, name, { ipcMode: "private" }, containerId); // the default shm: 64 MiB reserved
}

async function countOf(type: string): Promise<number> {
  const r = await database.db
    .selectFrom("events")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("type", "=", type)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

describe("scheduler killed mid-flow", () => {
  it("answers each of 20 concurrent starts exactly once across a SIGKILL and restart", async () => {
    child = startChild();
    await publishRegistration(nats, "h1", { memoryBytes: 20 * SHM });
    beat = setInterval(() => publishHeartbeat(nats.nc, { prefix: nats.prefix, host: "h1" }), 200);
    // The child is up once it has recorded the registration.
    await expect.poll(() => countOf("HostRegistered"), { timeout: 30_000 }).toBe(1);

    const ids = Array.from({ length: 20 }, () => randomBytes(32).toString("hex"));
    const requests = Promise.all(ids.map((containerId, i) => createAndStart(containerId, `c${i}`)));
    await expect.poll(() => countOf("ContainerScheduled"), { timeout: 30_000, interval: 5 }).toBeGreaterThan(0);
    child.process.kill("SIGKILL");
    expect(await child.exited).toBe("SIGKILL");
    await requests;
    const answeredBeforeKill = await countOf("ContainerScheduled");

    child = startChild();
    await expect.poll(() => countOf("ContainerScheduled"), { timeout: 60_000 }).toBe(20);

    for (const id of ids) {
      const events = await store.readStream(containerStreamId(id));
      expect(events.map((e) => e.type)).toEqual(["ContainerCreated", "ContainerStartRequested", "ContainerScheduled"]);
      expect(events[2]!.eventId).toBe(derivedEventId(`scheduled:${events[1]!.eventId}`));
    }
    // The placements rows follow the log through the scheduler's projection, off the start path.
    await expect
      .poll(async () => (await database.db.selectFrom("placements").select("container_id").execute()).map((p) => p.container_id).sort(), {
        timeout: 15_000,
      })
      .toEqual([...ids].sort());
    expect(await countOf("ContainerStartFailed")).toBe(0);
    // The host is full, whichever process placed what.
    const extra = randomBytes(32).toString("hex");
    await createAndStart(extra, "extra");
    await expect.poll(async () => (await store.readStream(containerStreamId(extra))).at(-1)?.type, { timeout: 15_000 }).toBe("ContainerStartFailed");
    expect((await store.readStream(containerStreamId(extra))).at(-1)!.data).toMatchObject({
      reason: "no suitable host: no host has room: 64MiB of memory needed; host h1 (the closest) has 0B free (64MiB of memory short)",
    });
    // A clean stop on SIGTERM.
    child.process.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    // Informational: how far the first process got (varies run to run).
    console.info(`scheduler killed after ${answeredBeforeKill}/20 placements`);
  });

  it("exits with status 1 when its active-scheduler lock's connection is lost", async () => {
    child = startChild();
    const lockSessions = async () =>
      (
        await sql<{ pid: number }>`
          SELECT pid FROM pg_stat_activity
          WHERE application_name = ${ACTIVE_LOCK_APPLICATION_NAME} AND datname = current_database()`.execute(database.db)
      ).rows;
    await expect.poll(async () => (await lockSessions()).length, { timeout: 30_000 }).toBe(1);
    await sql`SELECT pg_terminate_backend(${(await lockSessions())[0]!.pid}::int)`.execute(database.db);
    expect(await child.exited).toBe(1);
  });
});
