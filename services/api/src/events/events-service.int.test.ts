import { randomBytes, randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import type { ClientReadableStream, ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEventStore, createOutboxRelay } from "@shoal/event-store";
import type { EventStore, OutboxRelay } from "@shoal/event-store";
import { createJetStreamEventPublisher, encodeEventMessage, ensureStreams, eventSubject, eventsStreamName } from "@shoal/bus";
import { connectTestNats, createTestDatabase } from "@shoal/testing";
import type { TestDatabase, TestNats } from "@shoal/testing";
import { startTestGrpcServer } from "../health/grpc-test-harness";
import type { TestGrpcServer } from "../health/grpc-test-harness";
import { registerEventsService } from "./events-service";

// Events.Subscribe against real Postgres → outbox relay → JetStream, over a real gRPC
// client: what `shoal events` and every resuming subscriber rely on.

interface ProtoEvent {
  cursor: string;
  eventId: string;
  type: string;
  streamId: string;
  streamVersion: string;
  dataJson: string;
  recordedAt: { seconds: string; nanos: number };
}

let database: TestDatabase;
let nats: TestNats;
let store: EventStore;
let relay: OutboxRelay;
let grpcServer: TestGrpcServer;
let events: Record<string, any>;
const counted: string[] = [];
const metrics = {
  requests: { inc: (l: { method: string; code: string }) => void counted.push(`${l.method} ${l.code}`) },
  requestDuration: { observe: () => {} },
};

beforeAll(async () => {
  database = await createTestDatabase();
  nats = await connectTestNats();
  await ensureStreams(nats.jsm, nats.prefix);
  store = createEventStore({ db: database.db });
  relay = createOutboxRelay({
    pool: database.pool,
    publisher: createJetStreamEventPublisher(nats.js, { prefix: nats.prefix }),
  });
  await relay.start();
  grpcServer = await startTestGrpcServer((server, packageDefinition) =>
    registerEventsService(server, {
      packageDefinition,
      js: nats.js,
      jsm: nats.jsm,
      prefix: nats.prefix,
      db: database.db,
      metrics,
      untilGraceMs: 200,
    }),
  );
  events = grpcServer.client("shoal.v1.Events");
});

afterAll(async () => {
  await grpcServer?.close();
  await relay?.stop();
  await nats?.cleanup();
  await database?.drop();
});

const containerId = (): string => randomBytes(32).toString("hex");

/** Events appended through the store (and so, once relayed, messages in this file's stream). */
let appended = 0;

async function append(streamId: string, type: string, data: object = {}): Promise<string> {
  const eventId = randomUUID();
  await store.appendToStream(streamId, "any", [{ eventId, type, schemaVersion: 1, data, metadata: {} }]);
  appended += 1;
  return eventId;
}

async function appendMany(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await append(`container-${containerId()}`, "ContainerCreated", { i }));
  return ids;
}

/** Waits until the relay has put every event appended so far into JetStream; resolves with the last sequence. */
async function published(): Promise<number> {
  const stream = eventsStreamName(nats.prefix);
  let last = 0;
  await expect
    .poll(async () => {
      const info = await nats.jsm.streams.info(stream);
      last = info.state.last_seq;
      return info.state.messages;
    }, { timeout: 15_000 })
    .toBe(appended);
  return last;
}

interface Session {
  events: ProtoEvent[];
  error?: ServiceError;
  ended: boolean;
}

/**
 * Subscribes and collects events; with `stopAfter`, cancels after that many (and keeps
 * no event delivered after it, like a client that stops processing). `onData` runs per event.
 */
function subscribe(
  request: object,
  opts: { stopAfter?: number; onData?: (e: ProtoEvent, n: number) => void } = {},
): Promise<Session> {
  const call: ClientReadableStream<ProtoEvent> = events.Subscribe(request);
  const session: Session = { events: [], ended: false };
  return new Promise((resolve) => {
    call.on("data", (e: ProtoEvent) => {
      if (opts.stopAfter !== undefined && session.events.length >= opts.stopAfter) return;
      session.events.push(e);
      opts.onData?.(e, session.events.length);
      if (session.events.length === opts.stopAfter) call.cancel();
    });
    call.on("error", (err: ServiceError) => {
      if (err.code !== status.CANCELLED) session.error = err;
      resolve(session);
    });
    call.on("end", () => {
      session.ended = true;
      resolve(session);
    });
  });
}

async function consumerCount(stream: string): Promise<number> {
  let n = 0;
  for await (const _ of nats.jsm.consumers.list(stream)) n++;
  return n;
}

describe("Events.Subscribe", () => {
  it("resumes from a cursor after a disconnect and delivers every event exactly once, in order", async () => {
    const batchA = await appendMany(10);
    await published();

    const first = await subscribe({}, { stopAfter: 4 });
    expect(first.error).toBeUndefined();
    expect(first.events.map((e) => e.eventId)).toEqual(batchA.slice(0, 4));
    // The server deletes its consumer when the client goes away.
    await expect.poll(() => consumerCount(eventsStreamName(nats.prefix)), { timeout: 10_000 }).toBe(0);

    const batchB = await appendMany(5); // appended while nobody listens
    const batchC: string[] = [];
    const appendingDuringResume: Promise<void>[] = [];
    const resumed = await subscribe(
      { sinceCursor: first.events.at(-1)!.cursor },
      {
        stopAfter: 6 + 5 + 5,
        onData: (_e, n) => {
          // New events arrive while the resumed subscriber is still catching up.
          if (n === 2) appendingDuringResume.push(appendMany(5).then((ids) => void batchC.push(...ids)));
        },
      },
    );
    await Promise.all(appendingDuringResume);

    expect(resumed.error).toBeUndefined();
    const all = [...first.events, ...resumed.events];
    expect(all.map((e) => e.eventId)).toEqual([...batchA, ...batchB, ...batchC]);
    const seqs = all.map((e) => Number(e.cursor.slice("js:".length)));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(all.map((e) => e.cursor)).size).toBe(all.length);
    expect(all[0]).toMatchObject({ type: "ContainerCreated", streamVersion: "1" });
    expect(JSON.parse(all[0]!.dataJson)).toEqual({ i: 0 });
  });

  it("cleans up its consumer when a live subscription's deadline passes", async () => {
    const last = await published();
    const call: ClientReadableStream<ProtoEvent> = events.Subscribe(
      { sinceCursor: `js:${last}` },
      { deadline: Date.now() + 500 },
    );
    const code = await new Promise<number>((resolve) => {
      call.on("data", () => {});
      call.on("error", (err: ServiceError) => resolve(err.code));
    });
    expect(code).toBe(status.DEADLINE_EXCEEDED);
    await expect.poll(() => consumerCount(eventsStreamName(nats.prefix)), { timeout: 10_000 }).toBe(0);
  });

  it("filters by container name or id, type, host and aggregate, and ends at until_time", async () => {
    const web = containerId();
    const db = containerId();
    await append(`container-${web}`, "ContainerCreated", { containerId: web, name: "web" });
    await append(`container-${db}`, "ContainerCreated", { containerId: db, name: "db" });
    await append(`container-${web}`, "ContainerScheduled", { containerId: web, host: "h1" });
    await append(`container-${db}`, "ContainerScheduled", { containerId: db, host: "h2" });
    await append("host-h1", "HostRegistered", { host: "h1" });
    await append(`container-${web}`, "ContainerStarted", { containerId: web, pid: 42 });
    await append("config-daemon", "DaemonConfigChanged", { version: 1 });
    const lastSeq = await published();
    const until = { seconds: Math.ceil(Date.now() / 1000) + 1, nanos: 0 };
    await new Promise((r) => setTimeout(r, 1100));

    const run = async (filters: { key: string; values: string[] }[]): Promise<string[]> => {
      const s = await subscribe({ sinceCursor: `js:${lastSeq - 7}`, untilTime: until, filters });
      expect(s.error).toBeUndefined();
      expect(s.ended).toBe(true);
      return s.events.map((e) => `${e.type}@${e.streamId.slice(0, 14)}`);
    };
    const w = `container-${web}`.slice(0, 14);
    const d = `container-${db}`.slice(0, 14);

    expect(await run([{ key: "container", values: ["web"] }])).toEqual([
      `ContainerCreated@${w}`,
      `ContainerScheduled@${w}`,
      `ContainerStarted@${w}`,
    ]);
    expect(await run([{ key: "container", values: [db, web.slice(0, 12)] }])).toEqual([
      `ContainerCreated@${w}`,
      `ContainerCreated@${d}`,
      `ContainerScheduled@${w}`,
      `ContainerScheduled@${d}`,
      `ContainerStarted@${w}`,
    ]);
    expect(
      await run([
        { key: "type", values: ["ContainerCreated", "ContainerStarted"] },
        { key: "container", values: ["web"] },
      ]),
    ).toEqual([`ContainerCreated@${w}`, `ContainerStarted@${w}`]);
    expect(await run([{ key: "host", values: ["h1"] }])).toEqual([
      `ContainerScheduled@${w}`,
      "HostRegistered@host-h1",
      `ContainerStarted@${w}`,
    ]);
    expect(await run([{ key: "aggregate", values: ["config", "host"] }])).toEqual([
      "HostRegistered@host-h1",
      "DaemonConfigChanged@config-daemon",
    ]);
  });

  it("knows containers named or placed before the cursor from the api's tables", async () => {
    const api = containerId();
    await database.db.insertInto("container_names").values({ name: "api", container_id: api }).execute();
    await database.db
      .insertInto("containers")
      .values({
        id: api,
        name: "api",
        status: "scheduled",
        host: "h9",
        created_at: new Date(),
        host_config: "{}",
        source: "{}",
        args: "[]",
        env: "[]",
      })
      .execute();
    const before = await published();
    await append(`container-${containerId()}`, "ContainerStarted", { pid: 8 });
    await append(`container-${api}`, "ContainerStarted", { containerId: api, pid: 7 });
    await published();
    const byName = await subscribe({ sinceCursor: `js:${before}`, filters: [{ key: "container", values: ["api"] }] }, { stopAfter: 1 });
    expect(byName.events.map((e) => [e.type, e.streamId])).toEqual([["ContainerStarted", `container-${api}`]]);
    const byHost = await subscribe({ sinceCursor: `js:${before}`, filters: [{ key: "host", values: ["h9"] }] }, { stopAfter: 1 });
    expect(byHost.events.map((e) => [e.type, e.streamId])).toEqual([["ContainerStarted", `container-${api}`]]);
  });

  it("since_time starts at the first event recorded at or after it", async () => {
    await appendMany(3);
    await published();
    await new Promise((r) => setTimeout(r, 50));
    const since = Date.now();
    await new Promise((r) => setTimeout(r, 50));
    const later = await appendMany(3);
    await published();
    const s = await subscribe(
      { sinceTime: { seconds: Math.floor(since / 1000), nanos: (since % 1000) * 1e6 } },
      { stopAfter: 3 },
    );
    expect(s.error).toBeUndefined();
    expect(s.events.map((e) => e.eventId)).toEqual(later);
  });

  it("refuses malformed cursors and filters with INVALID_ARGUMENT, and a cursor from a reset log with OUT_OF_RANGE", async () => {
    const bad = await subscribe({ sinceCursor: "12" });
    expect(bad.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.error?.details).toMatch(/malformed cursor "12"/);

    const badFilter = await subscribe({ filters: [{ key: "colour", values: ["red"] }] });
    expect(badFilter.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(badFilter.error?.details).toMatch(/unknown event filter "colour"/);

    const ahead = await subscribe({ sinceCursor: "js:999999" });
    expect(ahead.error?.code).toBe(status.OUT_OF_RANGE);
    expect(ahead.error?.details).toMatch(/ahead of the newest event/);

    // Each subscription is counted once it ends, with its final code.
    await expect.poll(() => counted.filter((c) => c === "Events/Subscribe INVALID_ARGUMENT").length).toBe(2);
    expect(counted).toContain("Events/Subscribe OUT_OF_RANGE");
    expect(counted).toContain("Events/Subscribe CANCELLED");
    expect(counted).toContain("Events/Subscribe OK");
  });
});

describe("Events.Subscribe on a purged log", () => {
  let purgedNats: TestNats;
  let server: TestGrpcServer;

  beforeAll(async () => {
    purgedNats = await connectTestNats();
    await ensureStreams(purgedNats.jsm, purgedNats.prefix);
    const publisher = createJetStreamEventPublisher(purgedNats.js, { prefix: purgedNats.prefix });
    for (let i = 1; i <= 10; i++) {
      await publisher.publish({
        eventId: randomUUID(),
        streamId: `container-${containerId()}`,
        streamVersion: 1,
        globalPosition: BigInt(i),
        type: "ContainerCreated",
        schemaVersion: 1,
        data: { i },
        metadata: {},
        recordedAt: new Date(),
      });
    }
    // Keep only the last 3 messages (8, 9, 10).
    await purgedNats.jsm.streams.purge(eventsStreamName(purgedNats.prefix), { keep: 3 });
    server = await startTestGrpcServer((s, packageDefinition) =>
      registerEventsService(s, { packageDefinition, js: purgedNats.js, jsm: purgedNats.jsm, prefix: purgedNats.prefix }),
    );
  });

  afterAll(async () => {
    await server?.close();
    await purgedNats?.cleanup();
  });

  function subscribePurged(request: object, stopAfter?: number): Promise<Session> {
    const call: ClientReadableStream<ProtoEvent> = server.client("shoal.v1.Events").Subscribe(request);
    const session: Session = { events: [], ended: false };
    return new Promise((resolve) => {
      call.on("data", (e: ProtoEvent) => {
        session.events.push(e);
        if (session.events.length === stopAfter) call.cancel();
      });
      call.on("error", (err: ServiceError) => {
        if (err.code !== status.CANCELLED) session.error = err;
        resolve(session);
      });
      call.on("end", () => resolve(session));
    });
  }

  it("answers OUT_OF_RANGE for a cursor older than the oldest kept event, never a silent skip", async () => {
    const s = await subscribePurged({ sinceCursor: "js:4" });
    expect(s.events).toEqual([]);
    expect(s.error?.code).toBe(status.OUT_OF_RANGE);
    expect(s.error?.details).toBe(
      "cursor js:4 is older than the oldest kept event (js:8); events in between were removed: " +
        "subscribe without a cursor or with a since time",
    );
  });

  it("still resumes from the newest cursor that is just before the kept events, and from none", async () => {
    const resumed = await subscribePurged({ sinceCursor: "js:7" }, 3);
    expect(resumed.error).toBeUndefined();
    expect(resumed.events.map((e) => e.cursor)).toEqual(["js:8", "js:9", "js:10"]);
    const fresh = await subscribePurged({}, 3);
    expect(fresh.events.map((e) => JSON.parse(e.dataJson).i)).toEqual([8, 9, 10]);
  });
});

describe("Events.Subscribe over a log holding a late second copy of an event", () => {
  it("hands each event id on once, also to a subscriber resuming between the copies", async () => {
    const own = await connectTestNats();
    await ensureStreams(own.jsm, own.prefix);
    const server = await startTestGrpcServer((s, packageDefinition) =>
      registerEventsService(s, { packageDefinition, js: own.js, jsm: own.jsm, prefix: own.prefix }),
    );
    try {
      const envelope = (i: number) => ({
        eventId: randomUUID(),
        streamId: `container-${containerId()}`,
        streamVersion: 1,
        globalPosition: BigInt(i),
        type: "ContainerCreated",
        schemaVersion: 1,
        data: { i },
        metadata: {},
        recordedAt: new Date(),
      });
      const [e1, e2, e3] = [envelope(1), envelope(2), envelope(3)];
      // A re-publish after JetStream's duplicate window: same event, a message id JetStream has forgotten.
      for (const [e, msgID] of [[e1, e1.eventId], [e2, e2.eventId], [e1, randomUUID()], [e3, e3.eventId]] as const) {
        await own.js.publish(eventSubject(own.prefix, e.type), encodeEventMessage(e), { msgID });
      }
      const read = (request: object, n: number) =>
        new Promise<ProtoEvent[]>((resolve, reject) => {
          const got: ProtoEvent[] = [];
          const call: ClientReadableStream<ProtoEvent> = server.client("shoal.v1.Events").Subscribe(request);
          call.on("data", (e: ProtoEvent) => {
            got.push(e);
            if (got.length === n) call.cancel();
          });
          call.on("error", (err: ServiceError) => (err.code === status.CANCELLED ? resolve(got) : reject(err)));
        });
      const all = await read({}, 3);
      expect(all.map((e) => [e.eventId, e.cursor])).toEqual([
        [e1.eventId, "js:1"],
        [e2.eventId, "js:2"],
        [e3.eventId, "js:4"],
      ]);
      const resumed = await read({ sinceCursor: "js:2" }, 1);
      expect(resumed.map((e) => [e.eventId, e.cursor])).toEqual([[e3.eventId, "js:4"]]);
    } finally {
      await server.close();
      await own.cleanup();
    }
  });
});

describe("Events.Subscribe when the api loses NATS", () => {
  it("ends the subscription with UNAVAILABLE instead of hanging", async () => {
    const { connect } = await import("@nats-io/transport-node");
    const { jetstream, jetstreamManager } = await import("@nats-io/jetstream");
    const nc = await connect({ servers: process.env.SHOAL_NATS_URL ?? "nats://127.0.0.1:4222", maxReconnectAttempts: 0 });
    const jsm = await jetstreamManager(nc);
    const server = await startTestGrpcServer((s, packageDefinition) =>
      registerEventsService(s, {
        packageDefinition,
        js: jetstream(nc),
        jsm,
        prefix: nats.prefix,
      }),
    );
    try {
      await published();
      const call: ClientReadableStream<ProtoEvent> = server.client("shoal.v1.Events").Subscribe({});
      let first!: (e: ProtoEvent) => void;
      const firstEvent = new Promise<ProtoEvent>((resolve) => (first = resolve));
      const outcome = new Promise<ServiceError | "end">((resolve) => {
        call.on("data", (e: ProtoEvent) => first(e));
        call.on("error", resolve);
        call.on("end", () => resolve("end"));
      });
      expect((await firstEvent).cursor).toBe("js:1");
      await nc.close();
      const ended = await outcome;
      expect(ended).not.toBe("end");
      expect((ended as ServiceError).code).toBe(status.UNAVAILABLE);
      expect((ended as ServiceError).details).toMatch(/events stream/);
    } finally {
      await server.close();
      if (!nc.isClosed()) await nc.close();
    }
  });
});
