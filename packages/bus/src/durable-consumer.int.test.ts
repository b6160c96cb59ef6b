import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AckPolicy } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { InvalidArgumentError } from "@shoal/domain";
import { createTestDatabase, connectTestNats } from "@shoal/testing";
import type { TestDatabase, TestNats } from "@shoal/testing";
import type { BusLogger } from "./bus-logger";
import { createIdempotentHandler, startDurableConsumer, startDurableConsumersBySubject } from "./durable-consumer";
import type { DurableConsumer } from "./durable-consumer";
import { createJetStreamEventPublisher, decodeEventMessage, encodeEventMessage } from "./event-publisher";
import type { EventEnvelope } from "./event-publisher";
import { createInMemoryProcessedEventStore, createPostgresProcessedEventStore } from "./processed-event-store";
import { ensureStreams } from "./streams";
import { eventSubject, eventsFilter } from "./subjects";

let t: TestNats;
let pg: TestDatabase;
let stream: string;
const running: DurableConsumer[] = [];

beforeAll(async () => {
  t = await connectTestNats();
  pg = await createTestDatabase();
  stream = (await ensureStreams(t.jsm, t.prefix)).events;
});
afterAll(async () => {
  for (const c of running) await c.stop();
  await t?.cleanup();
  await pg?.drop();
});

function event(type = "ContainerStarted"): EventEnvelope {
  return {
    eventId: randomUUID(),
    streamId: `container-${randomUUID()}`,
    streamVersion: 1,
    globalPosition: 1n,
    type,
    schemaVersion: 1,
    data: {},
    metadata: {},
    recordedAt: new Date(),
  };
}

function recordingLogger(): BusLogger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (_ctx: Record<string, unknown>, msg: string) => void lines.push(`${level}: ${msg}`);
  return { lines, info: rec("info"), warn: rec("warn"), error: rec("error") };
}

/** Polls `check` until it holds; fails with `what` after a generous bound (not a timing assertion). */
async function eventually(what: string, check: () => boolean | Promise<boolean>, boundMs = 20_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function start(options: Omit<Parameters<typeof startDurableConsumer>[0], "js" | "jsm" | "stream">) {
  const c = await startDurableConsumer({ js: t.js, jsm: t.jsm, stream, logger: recordingLogger(), ...options });
  running.push(c);
  return c;
}

describe("durable consumer (real JetStream)", () => {
  it("resumes after a restart from the last acked message, in stream order", async () => {
    const publisher = createJetStreamEventPublisher(t.js, { prefix: t.prefix });
    const filterSubject = eventsFilter(t.prefix, "host");
    const first = [event("HostRegistered"), event("HostRegistered"), event("HostRegistered")];
    for (const e of first) await publisher.publish(e);

    const seen: string[] = [];
    const handler = async (m: { subject: string; data: Uint8Array }) => {
      seen.push(decodeEventMessage(m).eventId);
    };
    const c1 = await start({ durableName: "resume", filterSubject, handler });
    await eventually("first three handled", () => seen.length === 3);
    await c1.stop();
    expect(seen).toEqual(first.map((e) => e.eventId));

    const later = [event("HostRegistered"), event("HostRegistered")];
    for (const e of later) await publisher.publish(e);
    // Another aggregate's event is outside the filter and must not reach this durable.
    await publisher.publish(event("ContainerStarted"));

    const c2 = await start({ durableName: "resume", filterSubject, handler });
    await eventually("the two later events handled", () => seen.length === 5);
    await c2.stop();
    expect(seen).toEqual([...first, ...later].map((e) => e.eventId));
    const info = await t.jsm.consumers.info(stream, "resume");
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
  });

  it("redelivers after a handler failure, logs it, and the side effect happens once", async () => {
    const publisher = createJetStreamEventPublisher(t.js, { prefix: t.prefix });
    const e = event("CheckpointCreated");
    await publisher.publish(e);

    const store = createInMemoryProcessedEventStore();
    const effects: string[] = [];
    const deliveries: number[] = [];
    let failNext = true;
    const logger = recordingLogger();
    const c = await start({
      durableName: "fails-once",
      filterSubject: eventsFilter(t.prefix, "checkpoint"),
      retryDelayMs: () => 10,
      logger,
      handler: async (m) => {
        deliveries.push(m.deliveryCount);
        await createIdempotentHandler({
          store,
          consumer: "fails-once",
          handle: async (ev) => {
            if (failNext) {
              failNext = false;
              throw new Error("projection database restarted");
            }
            effects.push(ev.eventId);
          },
        })(m);
      },
    });
    await eventually("handled after the retry", () => effects.length === 1);
    await c.stop();
    expect(effects).toEqual([e.eventId]);
    expect(deliveries).toEqual([1, 2]);
    expect(logger.lines.some((l) => l.startsWith("warn: handler failed"))).toBe(true);
    expect((await t.jsm.consumers.info(stream, "fails-once")).num_ack_pending).toBe(0);
  });

  it("gets a message back when its first taker never acked it, and handles it once (Postgres store)", async () => {
    const publisher = createJetStreamEventPublisher(t.js, { prefix: t.prefix });
    const e = event("IpcGroupFormed");
    await publisher.publish(e);
    const filterSubject = eventsFilter(t.prefix, "ipc-group");

    const store = createPostgresProcessedEventStore(pg.db);
    const effects: string[] = [];
    const deliveries: number[] = [];
    const handler = createIdempotentHandler({
      store,
      consumer: "takes-and-dies",
      handle: async (ev, m) => {
        deliveries.push(m.deliveryCount);
        effects.push(ev.eventId);
      },
    });
    // The durable exists (as an earlier run of this consumer left it) with a short ack wait.
    await t.jsm.consumers.add(stream, {
      durable_name: "takes-and-dies",
      ack_policy: AckPolicy.Explicit,
      filter_subject: filterSubject,
      ack_wait: nanos(1_000),
      max_deliver: 10,
    });
    // A first instance takes the message and dies before acking it.
    const crashed = await t.js.consumers.get(stream, "takes-and-dies");
    const taken = await crashed.next({ expires: 5_000 });
    expect(taken && decodeEventMessage(taken).eventId).toBe(e.eventId);

    const c = await start({ durableName: "takes-and-dies", filterSubject, ackWaitMs: 1_000, handler });
    await eventually("handled", async () => effects.length === 1 && (await store.wasProcessed("takes-and-dies", e.eventId)));
    await c.stop();
    expect(deliveries).toEqual([2]);
    expect(effects).toEqual([e.eventId]);

    // The relay republishing after the dedup window (a new Nats-Msg-Id, same event) changes nothing either.
    const restart = await start({ durableName: "takes-and-dies", filterSubject, ackWaitMs: 1_000, handler });
    await t.js.publish(eventSubject(t.prefix, e.type), encodeEventMessage(e), { msgID: `${e.eventId}-late` });
    await eventually("republished copy acked", async () => {
      const info = await t.jsm.consumers.info(stream, "takes-and-dies");
      return info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.stream_seq >= 1;
    });
    await restart.stop();
    expect(effects).toEqual([e.eventId]);
  });

  it("the Postgres store keeps consumers apart and refuses an id that is not a UUID", async () => {
    const store = createPostgresProcessedEventStore(pg.db);
    const id = randomUUID();
    expect(await store.wasProcessed("a", id)).toBe(false);
    await store.markProcessed("a", id);
    await store.markProcessed("a", id); // idempotent
    expect(await store.wasProcessed("a", id)).toBe(true);
    expect(await store.wasProcessed("b", id)).toBe(false);
    await expect(store.wasProcessed("a", "not-a-uuid")).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("by subject: one durable per type, nothing of the other types delivered, a legacy durable removed", async () => {
    const prefix = `by-${randomUUID().slice(0, 8)}`;
    const legacy = `${prefix}-legacy`;
    await t.jsm.consumers.add(stream, { durable_name: legacy, ack_policy: AckPolicy.Explicit, filter_subject: eventsFilter(t.prefix, "container") });
    const seen: string[] = [];
    const consumers = await startDurableConsumersBySubject({
      js: t.js,
      jsm: t.jsm,
      stream,
      durablePrefix: prefix,
      filterSubjects: ["ContainerExited", "ContainerDied"].map((type) => eventSubject(t.prefix, type)),
      legacyDurables: [legacy],
      startFrom: "new",
      handler: async (msg) => void seen.push(decodeEventMessage(msg).type),
    });
    running.push(...consumers);
    expect(consumers.map((c) => c.durableName)).toEqual([`${prefix}-ContainerExited`, `${prefix}-ContainerDied`]);
    await expect(t.jsm.consumers.info(stream, legacy)).rejects.toThrow();
    const publisher = createJetStreamEventPublisher(t.js, { prefix: t.prefix });
    for (const type of ["ContainerStarted", "ContainerExited", "ContainerScheduled", "ContainerDied"]) await publisher.publish(event(type));
    await eventually("both wanted types handled", () => seen.length === 2);
    expect(seen.sort()).toEqual(["ContainerDied", "ContainerExited"]);
    for (const c of consumers) expect((await t.jsm.consumers.info(stream, c.durableName)).delivered.consumer_seq).toBe(1);
  });

  it("stop() waits for the message being handled and acks it", async () => {
    const publisher = createJetStreamEventPublisher(t.js, { prefix: t.prefix });
    const e = event("DaemonConfigChanged");
    await publisher.publish(e);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered = false;
    let finished = false;
    const c = await start({
      durableName: "slow",
      filterSubject: eventsFilter(t.prefix, "config"),
      handler: async () => {
        entered = true;
        await gate;
        finished = true;
      },
    });
    await eventually("handler entered", () => entered);
    let stopResolved = false;
    const stopping = c.stop().then(() => void (stopResolved = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(stopResolved).toBe(false); // still waiting for the handler
    release();
    await stopping;
    expect(finished).toBe(true);
    const info = await t.jsm.consumers.info(stream, "slow");
    expect(info.ack_floor.stream_seq).toBe(info.delivered.stream_seq);
    expect(info.num_ack_pending).toBe(0);
  });
});
