import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "@shoal/domain";
import { createIdempotentHandler } from "./durable-consumer";
import type { DeliveredMessage } from "./durable-consumer";
import { decodeEventMessage, encodeEventMessage } from "./event-publisher";
import type { EventEnvelope, JetStreamEventPublisher } from "./event-publisher";
import { createInMemoryProcessedEventStore } from "./processed-event-store";

function event(id: string, overrides: Partial<EventEnvelope> = {}): EventEnvelope {
  return {
    eventId: id,
    streamId: "container-abc",
    streamVersion: 3,
    globalPosition: 9_007_199_254_740_993n, // above Number.MAX_SAFE_INTEGER
    type: "ContainerStarted",
    schemaVersion: 1,
    data: { pid: 42 },
    metadata: { correlationId: "c-1" },
    recordedAt: new Date("2026-01-02T03:04:05.678Z"),
    ...overrides,
  };
}

function delivered(e: EventEnvelope, deliveryCount = 1): DeliveredMessage {
  return {
    subject: "t.evt.container.ContainerStarted",
    data: encodeEventMessage(e),
    headers: undefined,
    streamSequence: 1,
    deliveryCount,
    redelivered: deliveryCount > 1,
    working: () => undefined,
  };
}

describe("event message encoding", () => {
  it("round-trips an envelope, keeping a bigint position exact", () => {
    const e = event("e-1");
    expect(decodeEventMessage(delivered(e))).toEqual(e);
  });

  it("refuses a body that is not an envelope", () => {
    const bad = { subject: "s", data: new TextEncoder().encode('{"eventId":"x"}') };
    expect(() => decodeEventMessage(bad)).toThrow(InvalidArgumentError);
    expect(() => decodeEventMessage({ subject: "s", data: new TextEncoder().encode("not json") })).toThrow(
      InvalidArgumentError,
    );
  });

  it("fits where the outbox relay wants an OutboxPublisher", () => {
    type OutboxMessage = {
      eventId: string;
      streamId: string;
      streamVersion: number;
      globalPosition: bigint;
      type: string;
      schemaVersion: number;
      data: unknown;
      metadata: Record<string, unknown>;
      recordedAt: Date;
    };
    interface OutboxPublisher {
      publish(message: OutboxMessage): Promise<void>;
    }
    // Compiles only while the publisher is assignable to the relay's interface.
    const asOutboxPublisher = (p: JetStreamEventPublisher): OutboxPublisher => p;
    expect(typeof asOutboxPublisher).toBe("function");
  });
});

describe("createIdempotentHandler", () => {
  it("handles each event id once per consumer, however often it is delivered", async () => {
    const store = createInMemoryProcessedEventStore();
    const seen: string[] = [];
    const handler = createIdempotentHandler({
      store,
      consumer: "scheduler",
      handle: async (e) => {
        seen.push(e.eventId);
      },
    });
    await handler(delivered(event("e-1")));
    await handler(delivered(event("e-1"), 2));
    await handler(delivered(event("e-2")));
    await handler(delivered(event("e-1"), 3));
    expect(seen).toEqual(["e-1", "e-2"]);
  });

  it("keeps consumers apart: another consumer still handles the event", async () => {
    const store = createInMemoryProcessedEventStore();
    const seen: string[] = [];
    const make = (consumer: string) =>
      createIdempotentHandler({ store, consumer, handle: async (e) => void seen.push(`${consumer}:${e.eventId}`) });
    await make("a")(delivered(event("e-1")));
    await make("b")(delivered(event("e-1")));
    await make("a")(delivered(event("e-1")));
    expect(seen).toEqual(["a:e-1", "b:e-1"]);
  });

  it("does not mark an event whose handling failed, so the redelivery handles it", async () => {
    const store = createInMemoryProcessedEventStore();
    let calls = 0;
    const handler = createIdempotentHandler({
      store,
      consumer: "c",
      handle: async () => {
        calls += 1;
        if (calls === 1) throw new Error("database hiccup");
      },
    });
    await expect(handler(delivered(event("e-1")))).rejects.toThrow("database hiccup");
    expect(await store.wasProcessed("c", "e-1")).toBe(false);
    await handler(delivered(event("e-1"), 2));
    expect(calls).toBe(2);
    expect(await store.wasProcessed("c", "e-1")).toBe(true);
  });

  it("fails a message that is not an event with InvalidArgumentError, without calling handle", async () => {
    let called = false;
    const handler = createIdempotentHandler({
      store: createInMemoryProcessedEventStore(),
      consumer: "c",
      handle: async () => {
        called = true;
      },
    });
    const junk: DeliveredMessage = { ...delivered(event("e")), data: new TextEncoder().encode("[]") };
    await expect(handler(junk)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(called).toBe(false);
  });
});
