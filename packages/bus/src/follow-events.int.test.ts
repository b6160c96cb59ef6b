import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectTestNats } from "@shoal/testing";
import type { TestNats } from "@shoal/testing";
import { encodeEventMessage } from "./event-publisher";
import type { EventEnvelope } from "./event-publisher";
import { followEvents, startFastPath } from "./follow-events";
import { eventSubject } from "./subjects";

let t: TestNats;

beforeAll(async () => {
  t = await connectTestNats();
});

afterAll(async () => {
  await t?.cleanup();
});

const envelope = (type: string): EventEnvelope => ({
  eventId: randomUUID(),
  streamId: `container-${"a".repeat(64)}`,
  streamVersion: 2,
  globalPosition: 7n,
  type,
  schemaVersion: 1,
  data: { containerId: "a".repeat(64) },
  metadata: { actor: "api" },
  recordedAt: new Date("2026-11-24T00:00:00.000Z"),
});

describe("followEvents", () => {
  it("hands over each published event of its type, decoded, and skips what it cannot read", async () => {
    const seen: EventEnvelope[] = [];
    const sub = followEvents(t.nc, t.prefix, "ContainerStartRequested", (e) => seen.push(e));
    await t.nc.flush();
    const subject = eventSubject(t.prefix, "ContainerStartRequested");
    const first = envelope("ContainerStartRequested");
    t.nc.publish(subject, encodeEventMessage(first));
    t.nc.publish(subject, new TextEncoder().encode("not an event"));
    t.nc.publish(eventSubject(t.prefix, "ContainerScheduled"), encodeEventMessage(envelope("ContainerScheduled")));
    const second = envelope("ContainerStartRequested");
    t.nc.publish(subject, encodeEventMessage(second));
    await expect.poll(() => seen.length).toBe(2);
    expect(seen).toEqual([first, second]);
    sub.unsubscribe();
  });
});

describe("startFastPath", () => {
  it("does each event's work once, as core NATS brings it; the durable's copy waits for that work, or redoes work that failed", async () => {
    const done: string[] = [];
    let failNext = false;
    const failures: string[] = [];
    const fast = startFastPath({
      nc: t.nc,
      prefix: t.prefix,
      eventType: "ContainerScheduled",
      handle: async (e) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        if (failNext) {
          failNext = false;
          throw new Error("database unavailable");
        }
        done.push(e.eventId);
        return e.eventId;
      },
      onFailure: (_err, e) => failures.push(e.eventId),
    });
    await t.nc.flush();
    const subject = eventSubject(t.prefix, "ContainerScheduled");

    const first = envelope("ContainerScheduled");
    t.nc.publish(subject, encodeEventMessage(first));
    await expect.poll(() => done.length).toBe(1);
    expect(await fast.handle(first)).toBe(first.eventId); // the durable's copy: the same work, not again
    expect(done).toEqual([first.eventId]);

    failNext = true;
    const second = envelope("ContainerScheduled");
    t.nc.publish(subject, encodeEventMessage(second));
    await expect.poll(() => failures).toEqual([second.eventId]);
    expect(await fast.handle(second)).toBe(second.eventId); // the durable's copy does it
    expect(done).toEqual([first.eventId, second.eventId]);
    fast.stop();
  });
});

