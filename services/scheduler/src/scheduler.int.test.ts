import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import {
  containerStreamId,
  derivedEventId,
  hostStreamId,
} from "@shoal/domain";
import type { HostConfigInput } from "@shoal/domain";
import { CONFIG_EVENT_SCHEMA_VERSIONS, DAEMON_CONFIG_STREAM, configDecider } from "@shoal/config";
import { handleCommand } from "@shoal/event-store";
import type { EventStore } from "@shoal/event-store";
import { eventsStreamName, publishHeartbeat } from "@shoal/bus";
import type { TestDatabase, TestNats } from "@shoal/testing";
import { startScheduler } from "./start-scheduler";
import { containerCommand, requestStart } from "./testing/container-requests";
import { publishRegistration, startSchedulerTestInfra } from "./testing/test-infra";
import type { SchedulerTestInfra } from "./testing/test-infra";
import type { Scheduler } from "./start-scheduler";
import { createSchedulerProjection } from "./scheduler-projection";
import { PLACEMENT_DURABLE } from "./placement-consumer";

const START_REQUESTS = `${PLACEMENT_DURABLE}-ContainerStartRequested`;

// The scheduler in-process against real Postgres and NATS JetStream: events reach it
// through the real outbox relay, hosts through agent reports and heartbeats.

const MiB = 1024 * 1024;
const quiet = pino({ level: process.env.SHOAL_TEST_LOG ?? "silent" });

let infra: SchedulerTestInfra | undefined;
let database: TestDatabase;
let nats: TestNats;
let store: EventStore;
let scheduler: Scheduler | undefined;
const beating = new Set<string>();
let beatTimer: NodeJS.Timeout | undefined;

const start = () =>
  startScheduler({
    databaseUrl: database.url,
    natsUrl: process.env.SHOAL_NATS_URL ?? "nats://127.0.0.1:4222",
    subjectPrefix: nats.prefix,
    metricsPort: 0,
    livenessCheckIntervalMs: 100,
    // The tables follow the log off the start path; the assertions on them poll.
    projectionCatchUpMs: 100,
    logger: quiet,
  });

beforeAll(async () => {
  infra = await startSchedulerTestInfra();
  ({ database, nats, store } = infra);
  // Hosts that stop heartbeating are lost after 3 s (the daemon config key heartbeat-timeout);
  // heartbeats go every 100 ms, so a loaded machine never loses a beating host.
  await handleCommand(store, {
    streamId: DAEMON_CONFIG_STREAM,
    decider: configDecider,
    command: { type: "SetConfig", data: { assignments: ["heartbeat-timeout=3s"], now: new Date().toISOString() } },
    eventId: () => randomUUID(),
    schemaVersion: (t) => CONFIG_EVENT_SCHEMA_VERSIONS[t],
  });
  scheduler = await start();
  beatTimer = setInterval(() => {
    for (const host of beating) publishHeartbeat(nats.nc, { prefix: nats.prefix, host });
  }, 100);
});

afterAll(async () => {
  if (beatTimer) clearInterval(beatTimer);
  await scheduler?.stop();
  await infra?.close();
});

/** Registers `host`; memory given the old way (in its capabilities), CPUs in the report when given. */
async function registerHost(host: string, memoryBytes: number, nanoCpus?: number): Promise<void> {
  if (nanoCpus === undefined) await publishRegistration(nats, host, { kernelVersion: "6.1.0", cgroupVersion: "v1", memoryBytes });
  else await publishRegistration(nats, host, { kernelVersion: "6.1.0", cgroupVersion: "v1" }, { memoryBytes, nanoCpus });
  beating.add(host);
  await expect.poll(() => hostStatus(host), { timeout: 15_000 }).toBe("ready");
}

async function hostStatus(host: string): Promise<string | undefined> {
  const row = await database.db.selectFrom("hosts").select("status").where("name", "=", host).executeTakeFirst();
  return row?.status as string | undefined;
}


/** Creates a container and requests its start, as the api does (a member with the owner it resolved); returns its id. */
function createAndStart(name: string, hostConfig: HostConfigInput = {}, ipcOwnerId?: string): Promise<string> {
  return requestStart(store, name, hostConfig, undefined, ipcOwnerId);
}

async function eventsOf(containerId: string) {
  return store.readStream(containerStreamId(containerId));
}

/** Waits for the scheduler's answer to the start request; returns that event. */
async function outcome(containerId: string) {
  await expect
    .poll(async () => (await eventsOf(containerId)).some((e) => e.type === "ContainerScheduled" || e.type === "ContainerStartFailed"), {
      timeout: 15_000,
    })
    .toBe(true);
  return (await eventsOf(containerId)).find((e) => e.type === "ContainerScheduled" || e.type === "ContainerStartFailed")!;
}

async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${scheduler!.metricsPort}/metrics`);
  return res.text();
}

describe("scheduler", () => {
  it("fails a start with exit code 125 and the reason when there is no host", async () => {
    const id = await createAndStart("lonely");
    const e = await outcome(id);
    expect(e.type).toBe("ContainerStartFailed");
    expect(e.data).toMatchObject({ exitCode: 125, reason: "no suitable host: no hosts registered" });
    const request = (await eventsOf(id)).find((x) => x.type === "ContainerStartRequested")!;
    expect(e.eventId).toBe(derivedEventId(`no-host:${request.eventId}`));
    expect(await scrape()).toContain('shoal_scheduler_placements_total{result="unavailable"} 1');

    // With --rm the failed start also asks for the removal, under its own derived id.
    const rm = await createAndStart("lonely-rm", { autoRemove: true });
    await outcome(rm);
    await expect.poll(async () => (await eventsOf(rm)).map((x) => x.type), { timeout: 15_000 }).toEqual([
      "ContainerCreated",
      "ContainerStartRequested",
      "ContainerStartFailed",
      "ContainerRemovalRequested",
    ]);
    const [, rmRequest, , removal] = await eventsOf(rm);
    expect(removal!.eventId).toBe(derivedEventId(`no-host:${rmRequest!.eventId}:1`));
  });

  it("schedules a requested container onto a registered, heartbeating host", async () => {
    await registerHost("alpha", 1024 * MiB);
    const id = await createAndStart("web", { ipcMode: "private", shmSize: "128m" });
    const e = await outcome(id);
    expect(e.type).toBe("ContainerScheduled");
    expect(e.data).toMatchObject({ containerId: id, host: "alpha" });
    const request = (await eventsOf(id)).find((x) => x.type === "ContainerStartRequested")!;
    expect(e.eventId).toBe(derivedEventId(`scheduled:${request.eventId}`));

    const hostEvents = await store.readStream(hostStreamId("alpha"));
    expect(hostEvents.map((x) => x.type)).toEqual(["HostRegistered"]);
    expect(hostEvents[0]!.data).toMatchObject({ host: "alpha", memoryBytes: 1024 * MiB, capabilities: { kernelVersion: "6.1.0" } });

    // The placements row is written by the `scheduler` projection, after the append.
    await expect
      .poll(async () => {
        const row = await database.db.selectFrom("placements").selectAll().where("container_id", "=", id).executeTakeFirst();
        return row && { host: row.host, reserved: Number(row.reserved_bytes) };
      }, { timeout: 15_000 })
      .toEqual({ host: "alpha", reserved: 128 * MiB });

    const metrics = await scrape();
    expect(metrics).toContain('shoal_scheduler_placements_total{result="placed"} 1');
    expect(metrics).toContain('shoal_scheduler_hosts{status="ready"} 1');
    expect(metrics).toContain('shoal_scheduler_placement_seconds_count{result="placed"} 1');
  });

  it("refuses a container no host has room for, counting its shm", async () => {
    const id = await createAndStart("huge", { ipcMode: "shareable", shmSize: "2g" });
    const e = await outcome(id);
    expect(e.type).toBe("ContainerStartFailed");
    // alpha, the only host, holds web's 128 MiB of its 1 GiB.
    expect((e.data as { reason: string }).reason).toBe(
      "no suitable host: no host has room: 2GiB of memory needed; host alpha (the closest) has 896MiB free (1.125GiB of memory short)",
    );
  });

  it("puts a member on its owner's host even when another host has more room", async () => {
    await registerHost("beta", 1024 * MiB);
    // alpha holds 128 MiB (web): the owner goes to beta, the least reserved host.
    const owner = await createAndStart("db", { ipcMode: "shareable" });
    expect((await outcome(owner)).data).toMatchObject({ host: "beta" });
    // Release web, so alpha (0 bytes) is emptier than the owner's beta (64 MiB).
    const web = (await allContainerIds()).get("web")!;
    await containerCommand(store, { type: "RecordStartFailed", data: { containerId: web, now: new Date().toISOString(), reason: "test", exitCode: 128 } });
    await expect.poll(() => placedHost(web), { timeout: 15_000 }).toBeUndefined();

    // The schedule names the owner it placed the member with (the mount-manager reads it at once).
    const member = await createAndStart("db-sidecar", { ipcMode: "container:db" }, owner);
    expect((await outcome(member)).data).toMatchObject({ host: "beta", ipcOwnerId: owner });
    // The owner is the one the start request carries, whatever the ref says (the api resolved it once).
    const byId = await createAndStart("db-sidecar-2", { ipcMode: `container:${owner.slice(0, 12)}` }, owner);
    expect((await outcome(byId)).data).toMatchObject({ host: "beta", ipcOwnerId: owner });
    expect((await outcome(web)).data).not.toHaveProperty("ipcOwnerId");
    // A container with no IPC ties goes to the emptier host, so the member's choice was the owner's.
    const loose = await createAndStart("loose", { ipcMode: "private" });
    expect((await outcome(loose)).data).toMatchObject({ host: "alpha" });
  });

  it("places a restarted container again and a late release of its old run frees nothing", async () => {
    const id = await createAndStart("restarted", { ipcMode: "private" });
    expect((await outcome(id)).type).toBe("ContainerScheduled");
    // The placements table follows the log a little behind: wait for each placement by its version.
    const scheduledVersions = async () => (await eventsOf(id)).filter((e) => e.type === "ContainerScheduled").map((e) => e.streamVersion);
    const [first] = await scheduledVersions();
    await expect.poll(() => placedVersion(id), { timeout: 15_000 }).toBe(first);
    await containerCommand(store, { type: "RecordStartFailed", data: { containerId: id, now: new Date().toISOString(), reason: "boom", exitCode: 128 } });
    await expect.poll(() => placedHost(id), { timeout: 15_000 }).toBeUndefined();
    await containerCommand(store, { type: "StartContainer", data: { containerId: id, now: new Date().toISOString(), experimental: false } });
    await expect.poll(async () => (await scheduledVersions()).length, { timeout: 15_000 }).toBe(2);
    const second = (await scheduledVersions())[1];
    await expect.poll(() => placedVersion(id), { timeout: 15_000 }).toBe(second);
    // The first run's ContainerStartFailed (stream version 4) handled again: the new placement
    // stays, in a view loaded from the tables as a restarted scheduler loads it, and in the table.
    const failed = (await eventsOf(id)).find((e) => e.type === "ContainerStartFailed")!;
    const { createPlacementHandler } = await import("./placement-consumer");
    const { createSchedulerMetrics } = await import("./metrics");
    const { createCapacityView } = await import("./capacity-view");
    const { listHosts, listPlacements, releasePlacement } = await import("./scheduler-tables");
    const view = createCapacityView({ hosts: await listHosts(database.db), placements: await listPlacements(database.db) });
    const handler = createPlacementHandler({
      store,
      view,
      assertActive: () => undefined,
      metrics: createSchedulerMetrics(database.db),
      logger: quiet,
      now: () => new Date(),
    });
    expect(await handler({ ...failed, metadata: {} })).toEqual({ result: "released", rows: 0 });
    expect(view.reservationsOn((await placedHost(id))!).map((r) => r.containerId)).toContain(id);
    expect(await releasePlacement(database.db, id, failed.streamVersion)).toBe(0);
    expect(await placedHost(id)).toBeDefined();
  });

  it("fails a member whose owner is not placed anywhere", async () => {
    const id = await createAndStart("orphan", { ipcMode: "container:nobody" }, "0".repeat(64));
    const e = await outcome(id);
    expect(e.data).toMatchObject({ exitCode: 125, reason: "no suitable host: IPC owner nobody is not placed on any host" });
  });

  it("marks a host that stops heartbeating lost, and its running containers lost (not dead), still placed there", async () => {
    await registerHost("gamma", 4096 * MiB);
    const id = await createAndStart("on-gamma", { ipcMode: "none" });
    // gamma holds no container (alpha and beta hold some), so it gets the container.
    expect((await outcome(id)).data).toMatchObject({ host: "gamma" });
    const now = () => new Date().toISOString();
    await containerCommand(store, { type: "RecordIpcPrepared", data: { containerId: id, now: now(), plan: { mode: "none" } } });
    await containerCommand(store, {
      type: "RecordStarted",
      data: { containerId: id, now: now(), pid: 4242, runtime: { name: "runc", path: "/usr/sbin/runc", args: [] }, configVersion: 1 },
    });

    beating.delete("gamma");
    await expect.poll(() => hostStatus("gamma"), { timeout: 15_000 }).toBe("lost");
    const hostEvents = await store.readStream(hostStreamId("gamma"));
    expect(hostEvents.map((x) => x.type)).toEqual(["HostRegistered", "HostLost"]);

    await expect.poll(async () => (await eventsOf(id)).at(-1)?.type, { timeout: 15_000 }).toBe("ContainerLost");
    expect((await eventsOf(id)).at(-1)!.data).toMatchObject({ host: "gamma", reason: "host gamma lost" });
    // Lost is not dead: it may still run there, and a returning gamma keeps it unless it was placed elsewhere.
    expect(await placedHost(id)).toBe("gamma");
    // Hosts still heartbeating are untouched.
    expect(await hostStatus("alpha")).toBe("ready");
    expect(await hostStatus("beta")).toBe("ready");
    expect(await scrape()).toContain('shoal_scheduler_hosts{status="lost"} 1');

    // A lost host is never chosen; when it registers again it is ready again.
    const next = await createAndStart("after-loss", { ipcMode: "none" });
    expect((await outcome(next)).data).not.toMatchObject({ host: "gamma" });
    await registerHost("gamma", 4096 * MiB);
    expect((await store.readStream(hostStreamId("gamma"))).map((x) => x.type)).toEqual([
      "HostRegistered",
      "HostLost",
      "HostRegistered",
    ]);
  });

  it("judges no host lost when every host goes silent at once: that is the scheduler's fault, not theirs", async () => {
    const were = [...beating];
    expect(were.length).toBeGreaterThan(1);
    beating.clear();
    try {
      // Twice the 3 s timeout, with liveness checked every second.
      await new Promise((r) => setTimeout(r, 6_000));
      for (const host of were) expect(await hostStatus(host), host).toBe("ready");
    } finally {
      for (const host of were) beating.add(host);
    }
  });

  it("schedules each start once when every request is redelivered after a restart", async () => {
    const before = await allContainerStreams();
    await scheduler!.stop();
    scheduler = undefined;
    // A start requested while the scheduler is down waits for it.
    const pending = await createAndStart("while-down", { ipcMode: "none" });
    // Forget the start-request durable's acks: on restart JetStream redelivers every start request.
    await nats.jsm.consumers.delete(eventsStreamName(nats.prefix), START_REQUESTS);
    scheduler = await start();

    expect((await outcome(pending)).type).toBe("ContainerScheduled");
    // Deliveries are in stream order, one at a time: once a later start is answered, every
    // redelivered request before it has been handled.
    const marker = await createAndStart("marker", { ipcMode: "none" });
    await outcome(marker);

    const after = await allContainerStreams();
    // Not vacuous: the new durable was handed every start request again.
    const info = await nats.jsm.consumers.info(eventsStreamName(nats.prefix), START_REQUESTS);
    const total = [...after.values()].reduce((n, events) => n + events.filter((t) => t === "ContainerStartRequested").length, 0);
    expect(info.delivered.consumer_seq).toBeGreaterThanOrEqual(total);
    for (const [streamId, events] of before) {
      expect(after.get(streamId), streamId).toEqual(events);
    }
    for (const [streamId, events] of after) {
      const requests = events.filter((t) => t === "ContainerStartRequested").length;
      expect(events.filter((t) => t === "ContainerScheduled").length, streamId).toBeLessThanOrEqual(requests);
    }
    expect(after.get(containerStreamId(pending))).toEqual(["ContainerCreated", "ContainerStartRequested", "ContainerScheduled"]);
  });

  it("reserves CPUs and refuses a start that fits nowhere, naming the closest host and what is short", async () => {
    // Every other host offers at most 4 GiB and reported no CPUs: epsilon is the only one for 16 GiB.
    await registerHost("epsilon", 64 * 1024 * MiB, 2_000_000_000);
    const hostEvents = await store.readStream(hostStreamId("epsilon"));
    expect(hostEvents[0]!.data).toMatchObject({ memoryBytes: 64 * 1024 * MiB, nanoCpus: 2_000_000_000 });
    await expect.poll(async () => (await database.db.selectFrom("hosts").select("nano_cpus").where("name", "=", "epsilon").executeTakeFirst())?.nano_cpus, { timeout: 15_000 }).toBe("2000000000");

    const tooMany = await createAndStart("too-many-cpus", { ipcMode: "none", memory: "16g", cpus: "3" });
    expect((await outcome(tooMany)).data).toMatchObject({
      exitCode: 125,
      reason: "no suitable host: no host has room: 3 CPUs and 16GiB of memory needed; host epsilon (the closest) has 2 CPUs and 64GiB free (1 CPU short)",
    });

    const big = await createAndStart("big", { ipcMode: "none", memory: "16g", cpus: "1.5" });
    const placed = await outcome(big);
    expect(placed.data).toMatchObject({ host: "epsilon", reservedBytes: 16 * 1024 * MiB, reservedNanoCpus: 1_500_000_000 });
    await expect
      .poll(async () => {
        const row = await database.db.selectFrom("placements").selectAll().where("container_id", "=", big).executeTakeFirst();
        return row && { host: row.host, bytes: Number(row.reserved_bytes), cpus: Number(row.reserved_nano_cpus) };
      }, { timeout: 15_000 })
      .toEqual({ host: "epsilon", bytes: 16 * 1024 * MiB, cpus: 1_500_000_000 });

    // 0.5 CPUs are left on epsilon.
    const second = await createAndStart("big-2", { ipcMode: "none", memory: "16g", cpus: "1" });
    expect((await outcome(second)).data).toMatchObject({
      reason: "no suitable host: no host has room: 1 CPU and 16GiB of memory needed; host epsilon (the closest) has 0.5 CPUs and 48GiB free (0.5 CPUs short)",
    });
    // A container without --cpus still fits there.
    const noCpus = await createAndStart("big-3", { ipcMode: "none", memory: "16g" });
    expect((await outcome(noCpus)).data).toMatchObject({ host: "epsilon", reservedBytes: 16 * 1024 * MiB });
  });

  it("rebuilds hosts and placements from the log to the same rows", async () => {
    const snapshot = async () => ({
      hosts: (await database.db.selectFrom("hosts").select(["name", "status", "memory_bytes", "nano_cpus", "registered_at"]).orderBy("name").execute()),
      placements: (await database.db.selectFrom("placements").select(["container_id", "host", "reserved_bytes", "reserved_nano_cpus"]).orderBy("container_id").execute()),
    });
    const projection = createSchedulerProjection({ db: database.db, pool: database.pool, store });
    await projection.catchUp(); // what the scheduler's timer has not applied yet
    const before = await snapshot();
    expect(before.placements.length).toBeGreaterThan(0);
    await projection.rebuild();
    expect(await snapshot()).toEqual(before);
  });

  it("ignores a registration whose body claims another host than its subject", async () => {
    const startedAt = new Date().toISOString();
    const body = { reportId: "forged.1", host: "victim", type: "HostRegistered", reportedAt: startedAt, payload: { host: "victim", capabilities: {}, startedAt } };
    await nats.js.publish(`${nats.prefix}.host.mallory.report.HostRegistered`, JSON.stringify(body), { msgID: "forged.1" });
    // Reports are handled in order: once a later one is in, the forged one was handled.
    await registerHost("delta", 1024 * MiB);
    expect(await hostStatus("victim")).toBeUndefined();
    expect(await hostStatus("mallory")).toBeUndefined();
  });
});

/** The stream version of the ContainerScheduled the `placements` row holds now, if any. */
async function placedVersion(containerId: string): Promise<number | undefined> {
  const row = await database.db.selectFrom("placements").select("scheduled_version").where("container_id", "=", containerId).executeTakeFirst();
  return row === undefined ? undefined : Number(row.scheduled_version);
}

async function placedHost(containerId: string): Promise<string | undefined> {
  const row = await database.db.selectFrom("placements").select("host").where("container_id", "=", containerId).executeTakeFirst();
  return row?.host as string | undefined;
}

/** Container ids by name, from the ContainerCreated events. */
async function allContainerIds(): Promise<Map<string, string>> {
  const rows = await database.db.selectFrom("events").select("data").where("type", "=", "ContainerCreated").execute();
  return new Map(rows.map((r) => [(r.data as { name: string }).name, (r.data as { containerId: string }).containerId]));
}

async function allContainerStreams(): Promise<Map<string, string[]>> {
  const rows = await database.db
    .selectFrom("events")
    .select(["stream_id", "type"])
    .where("stream_id", "like", "container-%")
    .orderBy("stream_id")
    .orderBy("stream_version")
    .execute();
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.stream_id as string, [...(out.get(r.stream_id as string) ?? []), r.type as string]);
  return out;
}
