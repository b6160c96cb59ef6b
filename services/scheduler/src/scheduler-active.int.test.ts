import { afterEach, beforeEach, describe, expect, it } from "vitest";
import pino from "pino";
import { sql } from "kysely";
import { containerStreamId } from "@shoal/domain";
import type { HostConfigInput } from "@shoal/domain";
import type { EventStore } from "@shoal/event-store";
import { publishHeartbeat } from "@shoal/bus";
import type { TestDatabase, TestNats } from "@shoal/testing";
import { ACTIVE_LOCK_APPLICATION_NAME } from "./active-lock";
import { startScheduler } from "./start-scheduler";
import { containerCommand, requestStart } from "./testing/container-requests";
import { publishRegistration, startSchedulerTestInfra } from "./testing/test-infra";
import type { SchedulerTestInfra } from "./testing/test-infra";
import type { Scheduler, SchedulerOptions } from "./start-scheduler";

// One active scheduler per database, placing from its in-memory capacity view: a second
// one stands by, capacity survives a restart, releases free memory, a lost lock stops it.
// Each test has its own database and subject prefix.

const MiB = 1024 * 1024;
const quiet = pino({ level: process.env.SHOAL_TEST_LOG ?? "silent" });
/** Long enough that the projection's timer never runs in a test: the tables change only at a start. */
const NEVER = 3_600_000;

let infra: SchedulerTestInfra | undefined;
let database: TestDatabase;
let nats: TestNats;
let store: EventStore;
let beat: NodeJS.Timeout | undefined;
const running: Scheduler[] = [];
const standbys: AbortController[] = [];

beforeEach(async () => {
  infra = await startSchedulerTestInfra();
  ({ database, nats, store } = infra);
});

afterEach(async () => {
  if (beat) clearInterval(beat);
  for (const c of standbys.splice(0)) c.abort();
  for (const s of running.splice(0)) await s.stop();
  await infra?.close();
});

async function start(options: Partial<SchedulerOptions> = {}): Promise<Scheduler> {
  const s = await startScheduler({
    databaseUrl: database.url,
    natsUrl: process.env.SHOAL_NATS_URL ?? "nats://127.0.0.1:4222",
    subjectPrefix: nats.prefix,
    logger: quiet,
    ...options,
  });
  running.push(s);
  return s;
}

/** A logger that keeps what it logs. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return {
    logger,
    messages: () => lines.map((l) => l["msg"]),
    placedStreams: () => lines.filter((l) => l["msg"] === "placement").map((l) => l["containerStream"]),
  };
}

async function registerHost(host: string, memoryBytes: number): Promise<void> {
  await publishRegistration(nats, host, { memoryBytes });
  beat ??= setInterval(() => publishHeartbeat(nats.nc, { prefix: nats.prefix, host }), 200);
  await expect
    .poll(async () => (await database.db.selectFrom("hosts").select("status").where("name", "=", host).executeTakeFirst())?.status, {
      timeout: 15_000,
    })
    .toBe("ready");
}


function createAndStart(name: string, hostConfig: HostConfigInput): Promise<string> {
  return requestStart(store, name, hostConfig);
}

async function answer(containerId: string) {
  const events = await store.readStream(containerStreamId(containerId));
  return events.find((e) => e.type === "ContainerScheduled" || e.type === "ContainerStartFailed");
}

/** Waits for the scheduler's answer to the start request. */
async function outcome(containerId: string) {
  await expect.poll(() => answer(containerId), { timeout: 15_000 }).toBeDefined();
  return (await answer(containerId))!;
}

const placementRows = async () => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM placements`.execute(database.db)).rows[0]!.n);

describe("one active scheduler", () => {
  it("a second scheduler stands by while the first is active and takes over when it stops", async () => {
    const first = await start();
    await registerHost("h1", 256 * MiB);
    const second = capturingLogger();
    const standby = new AbortController();
    standbys.push(standby);
    let secondScheduler: Scheduler | undefined;
    const secondStarted = start({ logger: second.logger, signal: standby.signal }).then((s) => (secondScheduler = s));
    secondStarted.catch(() => undefined);
    await expect.poll(second.messages, { timeout: 15_000 }).toContain("another scheduler is active: standing by until its lock is freed");

    const a = await createAndStart("aa", { ipcMode: "private", shmSize: "192m" });
    expect((await outcome(a)).type).toBe("ContainerScheduled");
    expect(secondScheduler).toBeUndefined();
    expect(second.placedStreams()).toEqual([]);

    await first.stop();
    await secondStarted;
    expect(second.messages()).toContain("active scheduler: holding the scheduling lock");
    const b = await createAndStart("bb", { ipcMode: "private", shmSize: "32m" });
    expect((await outcome(b)).data).toMatchObject({ host: "h1" });
    expect(second.placedStreams()).toContain(containerStreamId(b));
    // The new active one counts what the first placed: 192 + 32 MiB are held, 64 do not fit.
    const c = await createAndStart("cc", { ipcMode: "private", shmSize: "64m" });
    expect((await outcome(c)).data).toMatchObject({
      exitCode: 125,
      reason: "no suitable host: no host has room: 64MiB of memory needed; host h1 (the closest) has 32MiB free (32MiB of memory short)",
    });
  });

  it("respects capacity across a restart: placements made since the tables were last written are counted", async () => {
    const first = await start({ projectionCatchUpMs: NEVER });
    await registerHost("h1", 256 * MiB);
    for (const name of ["aa", "bb"]) {
      const id = await createAndStart(name, { ipcMode: "private", shmSize: "128m" });
      expect((await outcome(id)).type).toBe("ContainerScheduled");
    }
    const full = await createAndStart("full", { ipcMode: "private", shmSize: "64m" });
    expect((await outcome(full)).data).toMatchObject({ reason: expect.stringMatching(/^no suitable host: no host has room/) });
    // Not vacuous: nothing has written the placements table yet; the restart's catch-up must.
    expect(await placementRows()).toBe(0);

    await first.stop();
    running.splice(running.indexOf(first), 1);
    await start({ projectionCatchUpMs: NEVER });
    expect(await placementRows()).toBe(2);
    const after = await createAndStart("after-restart", { ipcMode: "private", shmSize: "64m" });
    expect((await outcome(after)).data).toMatchObject({
      exitCode: 125,
      reason: "no suitable host: no host has room: 64MiB of memory needed; host h1 (the closest) has 0B free (64MiB of memory short)",
    });
  });

  it("frees a reservation in memory when its container exits", async () => {
    // The table is never written after the start: only the view can know of the exit.
    await start({ projectionCatchUpMs: NEVER });
    await registerHost("h1", 256 * MiB);
    const a = await createAndStart("aa", { ipcMode: "private", shmSize: "192m" });
    expect((await outcome(a)).type).toBe("ContainerScheduled");
    const refused = await createAndStart("refused", { ipcMode: "private", shmSize: "128m" });
    expect((await outcome(refused)).data).toMatchObject({ reason: expect.stringMatching(/^no suitable host: no host has room/) });

    const now = () => new Date().toISOString();
    await containerCommand(store, { type: "RecordIpcPrepared", data: { containerId: a, now: now(), plan: { mode: "private", shmSizeBytes: 192 * MiB } } });
    await containerCommand(store, {
      type: "RecordStarted",
      data: { containerId: a, now: now(), pid: 4242, runtime: { name: "runc", path: "/usr/sbin/runc", args: [] }, configVersion: 1 },
    });
    await containerCommand(store, { type: "RecordExited", data: { containerId: a, exitCode: 0, exitedAt: now() } });

    // Handled in stream order: the exit before this request.
    const next = await createAndStart("next", { ipcMode: "private", shmSize: "128m" });
    expect((await outcome(next)).data).toMatchObject({ host: "h1" });
    expect(await placementRows()).toBe(0);
  });

  it("stops placing once its lock's connection is lost", async () => {
    const lost: Error[] = [];
    // The callback does not stop it: the placements it still receives must fail, not place.
    const first = await start({ onActiveLockLost: (err) => void lost.push(err) });
    await registerHost("h1", 256 * MiB);
    const before = await createAndStart("before", { ipcMode: "none" });
    expect((await outcome(before)).type).toBe("ContainerScheduled");

    const terminated = await sql<{ ok: boolean }>`
      SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
      WHERE application_name = ${ACTIVE_LOCK_APPLICATION_NAME} AND datname = current_database()`.execute(database.db);
    expect(terminated.rows.map((r) => r.ok)).toEqual([true]);
    await expect.poll(() => lost.length, { timeout: 15_000 }).toBe(1);

    const orphan = await createAndStart("orphan", { ipcMode: "none" });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await answer(orphan)).toBeUndefined();

    await first.stop();
    running.splice(running.indexOf(first), 1);
    await start();
    expect((await outcome(orphan)).type).toBe("ContainerScheduled");
    expect(lost).toHaveLength(1);
  });
});
