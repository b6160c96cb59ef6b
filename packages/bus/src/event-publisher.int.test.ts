import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError, UnavailableError } from "@shoal/domain";
import { connectTestNats } from "@shoal/testing";
import type { TestNats } from "@shoal/testing";
import { createJetStreamEventPublisher, decodeEventMessage, EVENT_HEADERS } from "./event-publisher";
import type { EventEnvelope } from "./event-publisher";
import { ensureStreams } from "./streams";

let t: TestNats;
let eventsStream: string;
beforeAll(async () => {
  t = await connectTestNats();
  eventsStream = (await ensureStreams(t.jsm, t.prefix)).events;
});
afterAll(async () => {
  await t?.cleanup();
});

function event(overrides: Partial<EventEnvelope> = {}): EventEnvelope {
  return {
    eventId: randomUUID(),
    streamId: "container-0123",
    streamVersion: 2,
    globalPosition: 12_345_678_901_234_567_890n,
    type: "ContainerStarted",
    schemaVersion: 1,
    data: { pid: 4242, runtime: { name: "runc" } },
    metadata: { correlationId: "corr-1" },
    recordedAt: new Date("2026-03-04T05:06:07.089Z"),
    ...overrides,
  };
}

describe("JetStream event publisher (real NATS)", () => {
  it("stores an event on its aggregate's subject with headers a consumer can route on", async () => {
    const publisher = createJetStreamEventPublisher(t.js, { prefix: t.prefix });
    const e = event();
    const ack = await publisher.publishWithAck(e);
    expect(ack).toMatchObject({ stream: eventsStream, duplicate: false });

    const stored = await t.jsm.streams.getMessage(eventsStream, { seq: ack.seq });
    expect(stored?.subject).toBe(`${t.prefix}.evt.container.ContainerStarted`);
    expect(stored?.header.get("Nats-Msg-Id")).toBe(e.eventId);
    expect(stored?.header.get(EVENT_HEADERS.type)).toBe("ContainerStarted");
    expect(stored?.header.get(EVENT_HEADERS.streamId)).toBe("container-0123");
    expect(stored?.header.get(EVENT_HEADERS.streamVersion)).toBe("2");
    expect(stored?.header.get(EVENT_HEADERS.schemaVersion)).toBe("1");
    expect(stored && decodeEventMessage({ subject: stored.subject, data: stored.data })).toEqual(e);
  });

  it("deduplicates a republish of the same event id (the relay retrying after a crash)", async () => {
    const publisher = createJetStreamEventPublisher(t.js, { prefix: t.prefix });
    const e = event({ type: "IpcGroupFormed", streamId: "ipc-group-1" });
    const before = (await t.jsm.streams.info(eventsStream)).state.messages;
    const first = await publisher.publishWithAck(e);
    const again = await publisher.publishWithAck(e);
    await publisher.publish(e); // the OutboxPublisher shape: resolves, no error
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    expect(again.seq).toBe(first.seq);
    expect((await t.jsm.streams.info(eventsStream)).state.messages).toBe(before + 1);
  });

  it("refuses an event type with no aggregate before touching NATS", async () => {
    const publisher = createJetStreamEventPublisher(t.js, { prefix: t.prefix });
    await expect(publisher.publish(event({ type: "SomethingOdd" }))).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("reports UnavailableError when no stream takes the subject", async () => {
    const other = await connectTestNats(); // a prefix with no streams
    try {
      const publisher = createJetStreamEventPublisher(other.js, { prefix: other.prefix, timeoutMs: 2_000 });
      await expect(publisher.publish(event())).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      await other.cleanup();
    }
  });
});
