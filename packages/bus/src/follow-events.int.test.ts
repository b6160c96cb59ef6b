import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectTestNats } from "@shoal/testing";
import type { TestNats } from "@shoal/testing";
import { encodeEventMessage } from "./event-publisher";
import type { EventEnvelope } from "./event-publisher";
import { followEvents } from "./follow-events";
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
