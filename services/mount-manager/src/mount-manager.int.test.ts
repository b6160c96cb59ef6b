import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import pino from "pino";
import {
  createJetStreamEventPublisher,
  encodeEventMessage,
  ensureStreams,
  eventSubject,
  eventsStreamName,
  serveHostCommands,
} from "@shoal/bus";
import type { EventEnvelope, HostCommandServer } from "@shoal/bus";
import {
  CONTAINER_EVENT_SCHEMA_VERSIONS,
  FailedPreconditionError,
  containerDecider,
  containerStreamId,
  derivedEventId,
  hostStreamId,
  ipcGroupStreamId,
} from "@shoal/domain";
import type { ContainerCommand, HostConfigInput } from "@shoal/domain";
import { CONFIG_EVENT_SCHEMA_VERSIONS, DAEMON_CONFIG_STREAM, configDecider } from "@shoal/config";
import { createEventStore, createOutboxRelay, handleCommand } from "@shoal/event-store";
import type { EventStore, OutboxRelay, RecordedEvent } from "@shoal/event-store";
import { connectTestNats, createTestDatabase } from "@shoal/testing";
import type { TestDatabase, TestNats } from "@shoal/testing";
import { groupCommand } from "./group-command";
import { createKeyedMutex } from "./keyed-mutex";
import { prepareIpc } from "./prepare-ipc";
import { createIpcGroupProjection } from "./ipc-group-projection";
import { startMountManager, PREPARE_DURABLE, RELEASE_DURABLE } from "./mount-manager";
import type { MountManager } from "./mount-manager";
import type { FlowDeps } from "./flow-deps";

// The mount-manager in-process on real Postgres and NATS JetStream, with the outbox relay
// feeding it events and a fake agent (serveHostCommands) that records every host command
// (none is expected on the start path: an owner's agent makes its shm as part of its start).
// The test plays the api, the scheduler and the agent's reports by appending their events.

const STATE_ROOT = "/var/lib/shoal";
const MiB = 1024 * 1024;
const quiet = pino({ level: process.env.SHOAL_TEST_LOG ?? "silent" });

let database: TestDatabase;
let nats: TestNats;
let store: EventStore;
let relay: OutboxRelay;
let mm: MountManager;
let agents: HostCommandServer[] = [];

type Call = { host: string; command: string; payload: { containerId?: string; sizeBytes?: number } };
let calls: Call[] = [];
/** Per host: shm mounts the fake agent holds, and the containers ListContainers reports. */
const mounted = new Map<string, Set<string>>();
const listed = new Map<string, { containerId: string; status: string; live: boolean }[]>();
/** Per host: owner ids whose shm the fake agent reports mounted (the real agent does not report mounts yet). */
const listedMounts = new Map<string, string[]>();
/** UnmountShm of these containers fails as a busy mount would. */
const failUnmount = new Set<string>();

function fakeAgent(host: string): HostCommandServer {
  mounted.set(host, new Set());
  const record = (command: string) => async (payload: unknown) => {
    calls.push({ host, command, payload: payload as Call["payload"] });
  };
  return serveHostCommands(nats.nc, {
    prefix: nats.prefix,
    host,
    handlers: {
      async MountShm(payload) {
        await record("MountShm")(payload);
        const { containerId } = payload as { containerId: string };
        mounted.get(host)!.add(containerId);
        return { shmMountPath: `${STATE_ROOT}/containers/${containerId}/mounts/shm`, created: true };
      },
      async UnmountShm(payload) {
        await record("UnmountShm")(payload);
        const { containerId } = payload as { containerId: string };
        if (failUnmount.has(containerId)) throw new FailedPreconditionError(`shm of ${containerId} is busy`);
        const had = mounted.get(host)!.delete(containerId);
        return { unmounted: had ? 1 : 0 };
      },
      async ListContainers(payload) {
        await record("ListContainers")(payload);
        const shm = listedMounts.get(host);
        return shm === undefined ? { containers: listed.get(host) ?? [] } : { containers: listed.get(host) ?? [], shmMounts: shm };
      },
    },
  });
}

beforeAll(async () => {
  database = await createTestDatabase();
  nats = await connectTestNats();
  await ensureStreams(nats.jsm, nats.prefix);
  store = createEventStore({ db: database.db });
  const publisher = createJetStreamEventPublisher(nats.js, { prefix: nats.prefix });
  relay = createOutboxRelay({ pool: database.pool, publisher });
  await relay.start();
  agents = [fakeAgent("h1"), fakeAgent("h2"), fakeAgent("h3")];
  mm = await startTestMountManager();
});

/** The mount-manager under test, on this file's database and prefix (no reconcile timer). */
function startTestMountManager(): Promise<MountManager> {
  return startMountManager({
    db: database.db,
    pool: database.pool,
    nc: nats.nc,
    prefix: nats.prefix,
    metricsPort: 0,
    reconcileIntervalMs: 0,
    hostCommandTimeoutMs: 1_000,
    logger: quiet,
  });
}

afterAll(async () => {
  await mm?.stop();
  await relay?.stop();
  for (const a of agents) await a.stop();
  await nats?.cleanup();
  await database?.drop();
});

afterEach(() => {
  calls = [];
});

// ---- playing the other services -------------------------------------------------------

const newId = () => randomBytes(32).toString("hex");
const now = () => new Date().toISOString();

async function command(containerId: string, cmd: ContainerCommand): Promise<void> {
  await handleCommand(store, {
    streamId: containerStreamId(containerId),
    decider: containerDecider,
    command: cmd,
    eventId: () => randomUUID(),
    schemaVersion: (t) => CONTAINER_EVENT_SCHEMA_VERSIONS[t],
  });
}

async function create(name: string, hostConfig: HostConfigInput): Promise<string> {
  const id = newId();
  await command(id, {
    type: "CreateContainer",
    data: { containerId: id, name, hostConfig, source: { kind: "rootfs", path: "/srv/rootfs" }, args: ["sh"], env: [], createdAt: now() },
  });
  return id;
}

/**
 * The api's start request and the scheduler's placement. For a member, `ipcOwnerId` is the
 * owner the api resolved and found running and shareable at start; the mount-manager checks
 * it again as the log has it now.
 */
async function schedule(id: string, host = "h1", ipcOwnerId?: string): Promise<void> {
  const ipcOwner = ipcOwnerId === undefined ? {} : { ipcOwner: { containerId: ipcOwnerId, running: true, shareable: true } };
  await command(id, { type: "StartContainer", data: { containerId: id, now: now(), experimental: false, ...ipcOwner } });
  await command(id, { type: "RecordScheduled", data: { containerId: id, now: now(), host, ...(ipcOwnerId ? { ipcOwnerId } : {}) } });
}

async function started(id: string, pid: number): Promise<void> {
  await command(id, {
    type: "RecordStarted",
    data: { containerId: id, now: now(), pid, runtime: { name: "runc", path: "/usr/sbin/runc", args: [] }, configVersion: 1 },
  });
}

async function exited(id: string): Promise<string> {
  await command(id, { type: "RecordExited", data: { containerId: id, exitCode: 0, exitedAt: now() } });
  return (await store.readStream(containerStreamId(id))).at(-1)!.eventId;
}

/** A HostRegistered in `host-<host>` as the scheduler records it from the agent's report. */
async function registerHost(host: string, capabilities: Record<string, unknown>): Promise<void> {
  await store.appendToStream(hostStreamId(host), "any", [
    {
      eventId: randomUUID(),
      type: "HostRegistered",
      schemaVersion: 1,
      data: { host, capabilities, memoryBytes: 8 * 1024 * MiB, registeredAt: now() },
      metadata: { actor: "scheduler" },
    },
  ]);
}

/** What the mount-manager's prepare step gets, around `store`, for a test that delivers the event itself. */
function directDeps(store: EventStore): FlowDeps {
  return {
    db: database.db,
    store,
    nc: nats.nc,
    prefix: nats.prefix,
    locks: createKeyedMutex(),
    metrics: { count() {}, observePrepare() {} },
    log: quiet,
    hostCommandTimeoutMs: 1_000,
    now,
  } as unknown as FlowDeps;
}

/** The test's store, noting each read in `reads` (a stream id, or `[n streams]` for one query of n). */
function countingReads(reads: string[]): EventStore {
  return {
    ...store,
    readStream(streamId, opts) {
      reads.push(streamId);
      return store.readStream(streamId, opts);
    },
    readStreams(streams, opts) {
      reads.push(`[${streams.length} streams]`);
      return store.readStreams(streams, opts);
    },
  };
}

const envelopeOf = (e: RecordedEvent) => ({ ...e }) as unknown as EventEnvelope;

const events = (id: string) => store.readStream(containerStreamId(id));
const groupEvents = (owner: string) => store.readStream(ipcGroupStreamId(owner));
const types = (es: RecordedEvent[]) => es.map((e) => e.type);

/** Waits until the container's start is prepared or failed; returns that event. */
async function outcome(id: string): Promise<RecordedEvent> {
  let found: RecordedEvent | undefined;
  await expect
    .poll(
      async () => {
        const es = await events(id);
        const since = es.findLastIndex((e) => e.type === "ContainerScheduled");
        found = es.slice(since).find((e) => e.type === "ContainerIpcPrepared" || e.type === "ContainerStartFailed");
        return found !== undefined;
      },
      { timeout: 15_000, interval: 50 },
    )
    .toBe(true);
  return found!;
}

async function startOwner(name: string, pid: number, hostConfig: HostConfigInput = { ipcMode: "shareable" }): Promise<string> {
  const id = await create(name, hostConfig);
  await schedule(id);
  expect((await outcome(id)).type).toBe("ContainerIpcPrepared");
  await started(id, pid);
  return id;
}

async function startMember(name: string, owner: string, pid: number): Promise<string> {
  const id = await create(name, { ipcMode: `container:${owner}` });
  await schedule(id, "h1", owner);
  expect((await outcome(id)).type).toBe("ContainerIpcPrepared");
  await started(id, pid);
  return id;
}

/**
 * Waits until the prepare consumer has handled (acknowledged) the events-stream message at
 * `seq`: it was delivered and nothing is pending or unacknowledged any more.
 */
async function prepareHandled(seq: number): Promise<void> {
  await expect
    .poll(
      async () => {
        const c = await nats.jsm.consumers.info(eventsStreamName(nats.prefix), PREPARE_DURABLE);
        return c.delivered.stream_seq >= seq && c.num_pending === 0 && c.num_ack_pending === 0;
      },
      { timeout: 15_000, interval: 50 },
    )
    .toBe(true);
}

/** The events-stream sequence of the published ContainerScheduled with `eventId` (once it is there). */
async function scheduledSeq(eventId: string): Promise<number> {
  let seq = 0;
  await expect
    .poll(
      async () => {
        const m = await nats.jsm.streams
          .getMessage(eventsStreamName(nats.prefix), { last_by_subj: eventSubject(nats.prefix, "ContainerScheduled") })
          .catch(() => null);
        if (m?.header.get("Nats-Msg-Id") === eventId) seq = m.seq;
        return seq;
      },
      { timeout: 15_000, interval: 50 },
    )
    .toBeGreaterThan(0);
  return seq;
}

/** Waits until the release consumer has handled the event (its processed_events row). */
async function released(eventId: string): Promise<void> {
  await expect
    .poll(
      async () => {
        const r = await sql<{ n: number }>`
          SELECT count(*)::int AS n FROM processed_events WHERE consumer = ${RELEASE_DURABLE} AND event_id = ${eventId}`.execute(database.db);
        return r.rows[0]!.n;
      },
      { timeout: 15_000, interval: 50 },
    )
    .toBe(1);
}

const callsOf = (command: string, containerId: string) =>
  calls.filter((c) => c.command === command && c.payload.containerId === containerId);

// ---- the flows ------------------------------------------------------------------------

describe("mount-manager preparation", () => {
  it("records an owner's group, the order to mount its shm and its shareable plan in one transaction, sending no host command", async () => {
    const owner = await create("web", { ipcMode: "shareable", shmSize: "16m" });
    await schedule(owner);
    const prepared = await outcome(owner);

    expect(prepared.type).toBe("ContainerIpcPrepared");
    // h1 never registered a state root: the config's.
    const path = `${STATE_ROOT}/containers/${owner}/mounts/shm`;
    expect((prepared.data as { plan: unknown }).plan).toEqual({ mode: "shareable", shmSizeBytes: 16 * MiB, shmMountPath: path });
    // The owner's agent mounts as part of its start: nothing is sent to a host here.
    expect(calls.filter((c) => c.payload.containerId === owner)).toEqual([]);

    const group = await groupEvents(owner);
    expect(types(group)).toEqual(["IpcGroupFormed", "ShmMountCreated"]);
    expect(group[1]!.data).toMatchObject({ host: "h1", path, sizeBytes: 16 * MiB });
    for (const g of group) expect(BigInt(g.globalPosition)).toBeLessThan(BigInt(prepared.globalPosition));
    const ids = [...group.map((g) => g.eventId), prepared.eventId];
    const transactions = await sql<{ transaction_id: string }>`
      SELECT DISTINCT transaction_id::text FROM events WHERE event_id = ANY(${ids}::uuid[])`.execute(database.db);
    expect(transactions.rows).toHaveLength(1);

    await expect
      .poll(async () => (await sql`SELECT owner_id, host, path, size_bytes::int AS size, state FROM shm_mounts WHERE owner_id = ${owner}`.execute(database.db)).rows)
      .toEqual([{ owner_id: owner, host: "h1", path, size: 16 * MiB, state: "mounted" }]);
  });

  it("plans an owner's shm under the state root its host registered last, not the config's", async () => {
    await registerHost("h3", { kernelVersion: "6.1.0", stateRoot: "/var/lib/shoal-old" });
    await registerHost("h3", { kernelVersion: "6.1.0", stateRoot: "/var/lib/shoal-h3" });
    const owner = await create("rooted", { ipcMode: "shareable" });
    await schedule(owner, "h3");
    const prepared = await outcome(owner);

    const path = `/var/lib/shoal-h3/containers/${owner}/mounts/shm`;
    expect((prepared.data as { plan: unknown }).plan).toEqual({ mode: "shareable", shmSizeBytes: 64 * MiB, shmMountPath: path });
    expect((await groupEvents(owner))[1]!.data).toMatchObject({ host: "h3", path });
    expect(calls.filter((c) => c.payload.containerId === owner)).toEqual([]);

    // A member takes the owner's path from the owner's plan.
    await started(owner, 4100);
    const member = await create("rooted-member", { ipcMode: "container:rooted" });
    await schedule(member, "h3", owner);
    expect((await outcome(member)).data).toMatchObject({ plan: { mode: "container", ownerId: owner, shmMountPath: path } });
  });

  it("gives a private container its size and sends no host command", async () => {
    const id = await create("priv", { ipcMode: "private" });
    await schedule(id);
    const prepared = await outcome(id);
    expect((prepared.data as { plan: unknown }).plan).toEqual({ mode: "private", shmSizeBytes: 64 * MiB });
    expect(calls.filter((c) => c.payload.containerId === id)).toEqual([]);
    expect(await groupEvents(id)).toEqual([]);
  });

  it("plans a member started after its owner with the owner's pid, path and size, and records it in the group", async () => {
    const owner = await startOwner("db", 4001, { ipcMode: "shareable", shmSize: "8m" });
    const member = await create("db-sidecar", { ipcMode: "container:db" });
    await schedule(member, "h1", owner);
    const prepared = await outcome(member);

    expect((prepared.data as { plan: unknown }).plan).toEqual({
      mode: "container",
      ownerId: owner,
      ownerPid: 4001,
      shmSizeBytes: 8 * MiB,
      shmMountPath: `${STATE_ROOT}/containers/${owner}/mounts/shm`,
    });
    expect(callsOf("MountShm", member)).toEqual([]);
    expect(types(await groupEvents(owner))).toEqual(["IpcGroupFormed", "ShmMountCreated", "IpcGroupMemberJoined"]);
    await expect
      .poll(async () => (await sql`SELECT owner_id, joined FROM ipc_group_members WHERE member_id = ${member}`.execute(database.db)).rows)
      .toEqual([{ owner_id: owner, joined: true }]);
  });

  it("takes a member's owner from its start request and never resolves the name again", async () => {
    const resolved = await startOwner("resolved-owner", 4020);
    await startOwner("same-name-later", 4021);
    // The ref now names another container (as after a rename): the start request's owner stands.
    const member = await create("resolved-member", { ipcMode: "container:same-name-later" });
    await schedule(member, "h1", resolved);
    expect((await outcome(member)).data).toMatchObject({ plan: { mode: "container", ownerId: resolved, ownerPid: 4020 } });
  });

  it("fails the start of a member placed without its owner's id (a start requested before the id was carried) with NOT_FOUND's message", async () => {
    const owner = await startOwner("unnamed-owner", 4010);
    const member = await create("orphan-member", { ipcMode: "container:unnamed-owner" });
    const ipcOwner = { containerId: owner, running: true, shareable: true };
    await command(member, { type: "StartContainer", data: { containerId: member, now: now(), experimental: false, ipcOwner } });
    await command(member, { type: "RecordScheduled", data: { containerId: member, now: now(), host: "h1" } });
    expect((await outcome(member)).data).toMatchObject({ reason: "No such container: unnamed-owner", exitCode: 125 });
  });

  it("fails the start of a member whose owner is stopped, with Docker's message, and records no membership", async () => {
    const owner = await startOwner("stopped-owner", 4002);
    await exited(owner);
    const member = await create("late-member", { ipcMode: "container:stopped-owner" });
    // The api found it running; it stopped before the preparation.
    await schedule(member, "h1", owner);
    const failed = await outcome(member);

    expect(failed.type).toBe("ContainerStartFailed");
    expect(failed.data).toMatchObject({ reason: "container stopped-owner is not running", exitCode: 125 });
    expect(types(await groupEvents(owner))).not.toContain("IpcGroupMemberJoined");
  });

  it("fails the start of a member of a private container with the hint", async () => {
    const owner = await startOwner("private-owner", 4003, { ipcMode: "private" });
    const member = await create("hopeful", { ipcMode: "container:private-owner" });
    await schedule(member, "h1", owner);
    expect((await outcome(member)).data).toMatchObject({
      reason: "non-shareable IPC (hint: start private-owner with --ipc shareable)",
      exitCode: 125,
    });
  });

  it("a redelivered ContainerScheduled sends nothing and appends nothing", async () => {
    const owner = await startOwner("redelivered", 4004);
    calls = [];
    const before = await events(owner);
    const groupBefore = await groupEvents(owner);
    const scheduled = before.find((e) => e.type === "ContainerScheduled")!;

    // As after a crash between handling and acknowledging it: publish it again under a new
    // message id (past JetStream's dedup window), and wait for it to be handled.
    const ack = await nats.js.publish(
      eventSubject(nats.prefix, "ContainerScheduled"),
      encodeEventMessage({
        ...scheduled,
        globalPosition: BigInt(scheduled.globalPosition),
        recordedAt: new Date(scheduled.recordedAt),
        metadata: scheduled.metadata as Record<string, unknown>,
      }),
      { msgID: randomUUID() },
    );
    await prepareHandled(ack.seq);

    expect(calls.filter((c) => c.payload.containerId === owner)).toEqual([]);
    expect(await events(owner)).toEqual(before);
    expect(await groupEvents(owner)).toEqual(groupBefore);
  });

  it("a start removed before it was prepared orders no mount and records nothing for it", async () => {
    await mm.stop(); // the ContainerScheduled waits in the durable consumer meanwhile
    let owner: string;
    try {
      owner = await create("overtaken", { ipcMode: "shareable" });
      await schedule(owner);
      await command(owner, { type: "RemoveContainer", data: { containerId: owner, now: now(), force: true } });
      await command(owner, { type: "RecordRemoved", data: { containerId: owner, now: now() } });
    } finally {
      mm = await startTestMountManager();
    }
    const scheduled = (await events(owner)).find((e) => e.type === "ContainerScheduled")!;
    await prepareHandled(await scheduledSeq(scheduled.eventId));
    await released((await events(owner)).at(-1)!.eventId);

    expect(await groupEvents(owner)).toEqual([]);
    expect(types(await events(owner))).not.toContain("ContainerIpcPrepared");
    expect(calls.filter((c) => c.payload.containerId === owner)).toEqual([]);
  });
  it("prepares a start from the one read of its inputs: an owner's and a member's records append without reading again", async () => {
    await mm.stop(); // this test delivers the ContainerScheduled events itself
    const reads: string[] = [];
    const counting = countingReads(reads);
    try {
      await registerHost("h1", { stateRoot: "/var/lib/shoal" });
      const owner = await create("one-read-owner", { ipcMode: "shareable" });
      await schedule(owner);
      expect(await prepareIpc(directDeps(counting), envelopeOf((await events(owner)).at(-1)!))).toBe("prepared");
      expect(reads).toEqual(["[4 streams]"]);
      await started(owner, 4242);

      reads.length = 0;
      const member = await create("one-read-member", { ipcMode: `container:${owner}` });
      await schedule(member, "h1", owner);
      expect(await prepareIpc(directDeps(counting), envelopeOf((await events(member)).at(-1)!))).toBe("prepared");
      expect(reads).toEqual(["[6 streams]"]);
      expect(types(await groupEvents(owner))).toEqual(["IpcGroupFormed", "ShmMountCreated", "IpcGroupMemberJoined"]);
    } finally {
      mm = await startTestMountManager();
    }
  });

  it("plans with the config snapshot the start was requested under, whatever the config became since (RCU)", async () => {
    await mm.stop(); // this test delivers the ContainerScheduled itself
    const setConfig = (assignment: string) =>
      handleCommand(store, {
        streamId: DAEMON_CONFIG_STREAM,
        decider: configDecider,
        command: { type: "SetConfig", data: { assignments: [assignment], now: now() } },
        eventId: () => randomUUID(),
        schemaVersion: (t) => CONFIG_EVENT_SCHEMA_VERSIONS[t],
      });
    try {
      await setConfig("default-shm-size=24m");
      const version = (await store.readStream(DAEMON_CONFIG_STREAM)).length;
      const id = await create("rcu-private", { ipcMode: "private" });
      await command(id, { type: "StartContainer", data: { containerId: id, now: now(), experimental: false, configVersion: version } });
      await setConfig("default-shm-size=48m");
      await command(id, { type: "RecordScheduled", data: { containerId: id, now: now(), host: "h1" } });
      expect(await prepareIpc(directDeps(store), envelopeOf((await events(id)).at(-1)!))).toBe("prepared");
      expect((await outcome(id)).data).toMatchObject({ plan: { mode: "private", shmSizeBytes: 24 * MiB } });
    } finally {
      await setConfig("default-shm-size=64m");
      mm = await startTestMountManager();
    }
  });

  it("a removal that lands between the preparation's read and its record aborts the record: nothing is prepared", async () => {
    await mm.stop(); // this test delivers the ContainerScheduled itself
    let id: string;
    try {
      id = await create("raced", { ipcMode: "private" });
      await schedule(id);
      const scheduled = (await events(id)).find((e) => e.type === "ContainerScheduled")!;
      let raced = false;
      // The real store; the first append of the record is preceded by a removal, as if it had
      // committed right after the preparation read the stream.
      const racing: EventStore = {
        ...store,
        async appendToStreams(appends, opts) {
          if (!raced && appends.some((a) => a.streamId === containerStreamId(id))) {
            raced = true;
            await command(id, { type: "RemoveContainer", data: { containerId: id, now: now(), force: true } });
            await command(id, { type: "RecordRemoved", data: { containerId: id, now: now() } });
          }
          return store.appendToStreams(appends, opts);
        },
      };
      expect(await prepareIpc(directDeps(racing), envelopeOf(scheduled))).toBe("skipped");
      expect(raced).toBe(true);
    } finally {
      mm = await startTestMountManager();
    }
    expect(types(await events(id))).not.toContain("ContainerIpcPrepared");
    expect(types(await events(id)).at(-1)).toBe("ContainerRemoved");
  });
});

describe("mount-manager release", () => {
  it("unmounts an owner's shm exactly once, after the last member and the owner have exited", async () => {
    const owner = await startOwner("group-owner", 5001);
    const m1 = await startMember("group-m1", owner, 5002);
    const m2 = await startMember("group-m2", owner, 5003);
    const membersRow = async () =>
      (await sql`SELECT member_id, joined, running FROM ipc_group_members WHERE owner_id = ${owner} ORDER BY member_id`.execute(database.db)).rows;
    const ownerRow = async () =>
      (await sql`SELECT status, owner_running FROM ipc_groups WHERE owner_id = ${owner}`.execute(database.db)).rows;
    const sorted = [m1, m2].sort();
    await expect.poll(membersRow).toEqual(sorted.map((member_id) => ({ member_id, joined: true, running: true })));
    await expect.poll(ownerRow).toEqual([{ status: "active", owner_running: true }]);

    await released(await exited(owner));
    expect(callsOf("UnmountShm", owner)).toEqual([]);
    await released(await exited(m1));
    expect(callsOf("UnmountShm", owner)).toEqual([]);

    await released(await exited(m2));
    expect(callsOf("UnmountShm", owner)).toEqual([{ host: "h1", command: "UnmountShm", payload: { containerId: owner } }]);
    expect(types(await groupEvents(owner)).slice(-3)).toEqual(["IpcGroupMemberLeft", "IpcGroupMemberLeft", "ShmMountRemoved"]);
    await expect
      .poll(async () => (await sql`SELECT state FROM shm_mounts WHERE owner_id = ${owner}`.execute(database.db)).rows)
      .toEqual([{ state: "unmounted" }]);
    await expect.poll(membersRow).toEqual(sorted.map((member_id) => ({ member_id, joined: false, running: false })));
    await expect.poll(ownerRow).toEqual([{ status: "released", owner_running: false }]);

    // Removing the exited containers afterwards unmounts nothing more.
    for (const id of [m1, m2, owner]) {
      await command(id, { type: "RemoveContainer", data: { containerId: id, now: now(), force: false } });
      await command(id, { type: "RecordRemoved", data: { containerId: id, now: now() } });
      await released((await events(id)).at(-1)!.eventId);
    }
    expect(callsOf("UnmountShm", owner)).toHaveLength(1);
  });

  it("keeps the mount while a member outlives its owner, and an owner that restarts orders its mount again after a release", async () => {
    const owner = await startOwner("phoenix", 6001);
    const member = await startMember("phoenix-m", owner, 6002);
    await released(await exited(owner));
    await released(await exited(member));
    expect(callsOf("UnmountShm", owner)).toHaveLength(1);

    calls = [];
    await schedule(owner);
    expect((await outcome(owner)).type).toBe("ContainerIpcPrepared");
    expect(calls.filter((c) => c.payload.containerId === owner)).toEqual([]);
    expect(types(await groupEvents(owner)).slice(-3)).toEqual(["ShmMountRemoved", "IpcGroupFormed", "ShmMountCreated"]);
  });

  it("an owner restarting while a member still holds its mount reuses that mount, and its failed start leaves it to the member", async () => {
    const owner = await startOwner("keeper", 6201, { ipcMode: "shareable", shmSize: "4m" });
    const member = await startMember("keeper-m", owner, 6202);
    await released(await exited(owner));
    const groupBefore = await groupEvents(owner);

    await schedule(owner);
    const prepared = await outcome(owner);
    expect((prepared.data as { plan: unknown }).plan).toEqual({
      mode: "shareable",
      shmSizeBytes: 4 * MiB,
      shmMountPath: `${STATE_ROOT}/containers/${owner}/mounts/shm`,
    });
    expect(await groupEvents(owner)).toEqual(groupBefore);
    await command(owner, { type: "RecordStartFailed", data: { containerId: owner, now: now(), reason: "boom", exitCode: 127 } });
    await released((await events(owner)).at(-1)!.eventId);
    expect(callsOf("UnmountShm", owner)).toEqual([]);

    await released(await exited(member));
    expect(callsOf("UnmountShm", owner)).toHaveLength(1);
    expect(types(await groupEvents(owner)).at(-1)).toBe("ShmMountRemoved");
  });

  it("an owner whose last release never finished starts on another host, after removing the leftover mount", async () => {
    const owner = await startOwner("wanderer", 6101);
    // The release will not succeed: h1 refuses to unmount (as with EBUSY).
    failUnmount.add(owner);
    const exitId = await exited(owner);
    await expect.poll(() => callsOf("UnmountShm", owner).length, { timeout: 15_000 }).toBeGreaterThan(0);
    expect(types(await groupEvents(owner)).at(-1)).toBe("ShmMountCreated");

    failUnmount.delete(owner);
    calls = [];
    await schedule(owner, "h2");
    const prepared = await outcome(owner);
    expect((prepared.data as { plan: { mode: string } }).plan.mode).toBe("shareable");
    expect(calls.filter((c) => c.payload.containerId === owner).map((c) => `${c.command}@${c.host}`)).toEqual(["UnmountShm@h1"]);
    expect(types(await groupEvents(owner)).slice(-3)).toEqual(["ShmMountRemoved", "IpcGroupFormed", "ShmMountCreated"]);
    // The exit's retried release now finds the owner live again and leaves the new mount alone.
    await released(exitId);
    expect(callsOf("UnmountShm", owner)).toEqual([{ host: "h1", command: "UnmountShm", payload: { containerId: owner } }]);
  });

  it("an owner whose start fails (its agent could not mount, or the start failed after) has the mount released: UnmountShm, then ShmMountRemoved", async () => {
    const owner = await create("doomed", { ipcMode: "shareable" });
    await schedule(owner);
    expect((await outcome(owner)).type).toBe("ContainerIpcPrepared");
    expect(types(await groupEvents(owner))).toEqual(["IpcGroupFormed", "ShmMountCreated"]);
    // As the api records the agent's report of a start that failed at the mount.
    await command(owner, {
      type: "RecordStartFailed",
      data: { containerId: owner, now: now(), reason: `could not mount /dev/shm of container ${owner}: mount: permission denied`, exitCode: 128 },
    });
    await released((await events(owner)).at(-1)!.eventId);

    // Nothing was mounted on h1 (the fake agent holds nothing): the unmount is a no-op there, and the log ends released.
    expect(callsOf("UnmountShm", owner)).toEqual([{ host: "h1", command: "UnmountShm", payload: { containerId: owner } }]);
    expect(types(await groupEvents(owner))).toEqual(["IpcGroupFormed", "ShmMountCreated", "ShmMountRemoved"]);
    await expect
      .poll(async () => (await sql`SELECT state FROM shm_mounts WHERE owner_id = ${owner}`.execute(database.db)).rows)
      .toEqual([{ state: "unmounted" }]);
  });
});

describe("mount-manager reconcile and projection", () => {
  it("unmounts what the log has mounted but no live container uses, keeps what is used, and leaves unreachable hosts alone", async () => {
    // Log says mounted; no start or exit event will come for these: only the reconciler can act.
    const deps = { store, now, metrics: { count() {} } } as unknown as FlowDeps;
    const stale = await create("stale-owner", { ipcMode: "shareable" });
    const used = await create("used-owner", { ipcMode: "shareable" });
    const far = await create("far-owner", { ipcMode: "shareable" });
    const form = (owner: string, host: string) =>
      groupCommand(deps, owner, randomUUID(), {
        type: "FormIpcGroup",
        data: { ownerId: owner, host, shmSizeBytes: MiB, shmMountPath: `${STATE_ROOT}/containers/${owner}/mounts/shm`, now: now() },
      });
    await form(stale, "h1");
    await form(used, "h1");
    await form(far, "h-gone");
    listed.set("h1", [{ containerId: used, status: "running", live: true }]);
    // The reconciler reads the projection; let it see the three mounts first.
    await expect
      .poll(async () => (await sql`SELECT owner_id FROM shm_mounts WHERE state = 'mounted' AND owner_id IN (${stale}, ${used}, ${far})`.execute(database.db)).rows.length, { timeout: 15_000 })
      .toBe(3);

    const result = await mm.reconcile();

    const ids = (ms: { ownerId: string }[]) => ms.map((m) => m.ownerId);
    expect(ids(result.plan.unmount)).toContain(stale);
    expect(ids(result.plan.keep)).toContain(used);
    expect(ids(result.plan.lost)).toEqual([far]);
    expect(result.released).toEqual([stale]);
    expect(callsOf("UnmountShm", stale)).toHaveLength(1);
    expect(callsOf("UnmountShm", used)).toHaveLength(0);
    expect(types(await groupEvents(stale)).at(-1)).toBe("ShmMountRemoved");
    expect(types(await groupEvents(used)).at(-1)).toBe("ShmMountCreated");
  });

  it("unmounts a host's shm mount that the log does not know, when the agent reports its mounts", async () => {
    const orphan = newId();
    const used = (await sql<{ owner_id: string }>`SELECT owner_id FROM shm_mounts WHERE state = 'mounted' AND host = 'h1' LIMIT 1`.execute(database.db)).rows[0]!.owner_id;
    listedMounts.set("h1", [orphan, used]);
    try {
      const result = await mm.reconcile();
      expect(result.plan.orphans).toEqual([{ host: "h1", ownerId: orphan }]);
      expect(result.orphansUnmounted).toBe(1);
      expect(callsOf("UnmountShm", orphan)).toEqual([{ host: "h1", command: "UnmountShm", payload: { containerId: orphan } }]);
      expect(callsOf("UnmountShm", used)).toEqual([]);
    } finally {
      listedMounts.delete("h1");
    }
  });

  it("refuses to form a group on another host while a member holds its mount", async () => {
    const deps = { store, now } as unknown as FlowDeps;
    const owner = await create("pinned", { ipcMode: "shareable" });
    const data = { ownerId: owner, shmSizeBytes: MiB, shmMountPath: "/p", now: now() };
    await groupCommand(deps, owner, randomUUID(), { type: "FormIpcGroup", data: { ...data, host: "h1" } });
    await groupCommand(deps, owner, randomUUID(), { type: "JoinIpcGroup", data: { memberId: newId(), now: now() } });
    await expect(groupCommand(deps, owner, randomUUID(), { type: "FormIpcGroup", data: { ...data, host: "h2" } })).rejects.toThrow(
      FailedPreconditionError,
    );
  });

  it("rebuilds its tables from the log to the same rows", async () => {
    const runner = createIpcGroupProjection({ db: database.db, pool: database.pool });
    await runner.catchUp();
    const snapshot = async () => ({
      groups: (await sql`SELECT * FROM ipc_groups ORDER BY owner_id`.execute(database.db)).rows,
      members: (await sql`SELECT * FROM ipc_group_members ORDER BY member_id`.execute(database.db)).rows,
      mounts: (await sql`SELECT * FROM shm_mounts ORDER BY owner_id`.execute(database.db)).rows,
      containers: (await sql`SELECT * FROM mount_manager_containers ORDER BY container_id`.execute(database.db)).rows,
    });
    await mm.stop(); // nothing else may apply events meanwhile
    try {
      // Wait until the projection has applied the whole log (the global reader may withhold the tail briefly).
      await expect
        .poll(
          async () => {
            await runner.catchUp();
            const r = await sql<{ done: boolean }>`
              SELECT (SELECT (transaction_id, global_position) FROM projection_checkpoints WHERE name = 'mount-manager')
                   = (SELECT (transaction_id, global_position) FROM events
                      ORDER BY transaction_id DESC, global_position DESC LIMIT 1) AS done`.execute(database.db);
            return r.rows[0]!.done;
          },
          { timeout: 15_000 },
        )
        .toBe(true);
      const before = await snapshot();
      expect(before.mounts.length).toBeGreaterThan(0);
      await runner.rebuild();
      expect(await snapshot()).toEqual(before);
    } finally {
      mm = await startTestMountManager();
    }
  });

  it("serves its metrics without container ids", async () => {
    const scrape = async () => (await fetch(`http://127.0.0.1:${mm.metricsPort}/metrics`)).text();
    const mountedNow = async () =>
      (await sql<{ n: number }>`SELECT count(*)::int AS n FROM shm_mounts WHERE state = 'mounted'`.execute(database.db)).rows[0]!.n;
    // The projection may still be applying the last events: compare once both agree.
    await expect.poll(async () => (await scrape()).includes(`shoal_mount_manager_shm_mounts ${await mountedNow()}\n`)).toBe(true);
    expect(await mountedNow()).toBeGreaterThan(0);
    const text = await scrape();
    expect(text).toContain("# TYPE shoal_mount_manager_operations_total counter");
    expect(text).not.toMatch(/[0-9a-f]{64}/);
  });
});

// A derived id is what makes the prepare step idempotent: the same cause names the same event.
it("derives the prepared event id from the scheduled event id", async () => {
  const owner = await startOwner("derived", 7001);
  const es = await events(owner);
  const scheduled = es.find((e) => e.type === "ContainerScheduled")!;
  expect(es.find((e) => e.type === "ContainerIpcPrepared")!.eventId).toBe(derivedEventId(`ipc-prepared:${scheduled.eventId}`));
});
