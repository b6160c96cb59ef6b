import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEventStore, createOutboxRelay } from "@shoal/event-store";
import type { EventStore } from "@shoal/event-store";
import { createJetStreamEventPublisher, ensureStreams, eventsStreamName } from "@shoal/bus";
import { connectTestNats, createTestDatabase } from "@shoal/testing";
import type { TestDatabase, TestNats } from "@shoal/testing";

// The outbox's promise, end to end with a real crash: an event that committed reaches
// JetStream exactly once, even when the relay process is SIGKILLed after publishing but
// before recording that it did, or while events are committed with no relay running.

const childScript = fileURLToPath(new URL("./fixtures/relay-child.ts", import.meta.url));

let database: TestDatabase;
let nats: TestNats;
let store: EventStore;

beforeAll(async () => {
  database = await createTestDatabase();
  nats = await connectTestNats();
  await ensureStreams(nats.jsm, nats.prefix);
  store = createEventStore({ db: database.db });
});

afterAll(async () => {
  await nats?.cleanup();
  await database?.drop();
});

function runRelayChild(killAfterPublishes: number): { child: ChildProcess; exited: Promise<NodeJS.Signals | number | null> } {
  const child = spawn(process.execPath, ["--import", "tsx", childScript], {
    env: {
      ...process.env,
      SHOAL_DATABASE_URL: database.url,
      SHOAL_SUBJECT_PREFIX: nats.prefix,
      KILL_AFTER_PUBLISHES: String(killAfterPublishes),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on("exit", (code, signal) => resolve(signal ?? code)),
  );
  return { child, exited };
}

async function appendEvents(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    ids.push(id);
    await store.appendToStream(`container-${randomUUID().replaceAll("-", "")}`, "no-stream", [
      { eventId: id, type: "ContainerCreated", schemaVersion: 1, data: { i }, metadata: {} },
    ]);
  }
  return ids;
}

async function unsentCount(): Promise<number> {
  const row = await database.db
    .selectFrom("outbox")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("sent_at", "is", null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function streamedEventIds(): Promise<string[]> {
  const stream = eventsStreamName(nats.prefix);
  const info = await nats.jsm.streams.info(stream);
  const ids: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const msg = await nats.jsm.streams.getMessage(stream, { seq });
    ids.push(msg?.header?.get("Nats-Msg-Id") ?? "");
  }
  return ids;
}

describe("outbox relay into JetStream across a crash", () => {
  it("loses nothing when killed between publish and mark-sent, and the re-publish is deduplicated", async () => {
    // Committed while no relay runs: the commit happened, the publish has not.
    const ids = await appendEvents(10);
    expect(await unsentCount()).toBe(10);

    const first = runRelayChild(4);
    expect(await first.exited).toBe("SIGKILL");
    // It published 4 (maybe more were in JetStream) but recorded none of them as sent.
    expect(await unsentCount()).toBe(10);
    expect((await streamedEventIds()).length).toBe(4);

    // A new relay (in-process) re-publishes from the outbox; JetStream drops what it has.
    let duplicates = 0;
    const inner = createJetStreamEventPublisher(nats.js, { prefix: nats.prefix });
    const relay = createOutboxRelay({
      pool: database.pool,
      publisher: {
        async publish(message) {
          const ack = await inner.publishWithAck(message);
          if (ack.duplicate) duplicates += 1;
        },
      },
    });
    await relay.start();
    try {
      await expect.poll(unsentCount, { timeout: 15_000 }).toBe(0);
      // Events appended while this relay runs are woken by NOTIFY and go out too.
      ids.push(...(await appendEvents(3)));
      await expect.poll(unsentCount, { timeout: 15_000 }).toBe(0);
    } finally {
      await relay.stop();
    }

    expect(duplicates).toBe(4);
    const streamed = await streamedEventIds();
    expect(streamed).toHaveLength(ids.length);
    expect([...streamed].sort()).toEqual([...ids].sort());
  });
});
