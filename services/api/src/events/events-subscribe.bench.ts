/**
 * Measures Events.Subscribe over a real gRPC client:
 * - catch-up: events per second delivered from the start of a stream of N stored events;
 * - live: time from `appendToStream` returning to the subscriber receiving the event
 *   (Postgres → outbox relay → JetStream → api → gRPC), p50 / p99 over sequential appends.
 * Run: `pnpm exec tsx services/api/src/events/events-subscribe.bench.ts [N]`.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { ClientReadableStream } from "@grpc/grpc-js";
import { createJetStreamEventPublisher, ensureStreams } from "@shoal/bus";
import { createEventStore, createOutboxRelay } from "@shoal/event-store";
import { connectTestNats, createTestDatabase } from "@shoal/testing";
import { startTestGrpcServer } from "../health/grpc-test-harness";
import { registerEventsService } from "./events-service";

const N = Number(process.argv[2] ?? 5000);
const LIVE = 300;

const database = await createTestDatabase();
const nats = await connectTestNats();
try {
  await ensureStreams(nats.jsm, nats.prefix);
  const publisher = createJetStreamEventPublisher(nats.js, { prefix: nats.prefix });
  const server = await startTestGrpcServer((s, packageDefinition) =>
    registerEventsService(s, { packageDefinition, js: nats.js, jsm: nats.jsm, prefix: nats.prefix }),
  );
  const client = server.client("shoal.v1.Events");

  // Catch-up: N events already in JetStream.
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) {
    pending.push(
      publisher.publish({
        eventId: randomUUID(),
        streamId: `container-${randomBytes(32).toString("hex")}`,
        streamVersion: 1,
        globalPosition: BigInt(i + 1),
        type: "ContainerCreated",
        schemaVersion: 1,
        data: { i, name: `c${i}` },
        metadata: {},
        recordedAt: new Date(),
      }),
    );
    if (pending.length >= 256) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  const t0 = process.hrtime.bigint();
  let lastCursor = "";
  await new Promise<void>((resolve, reject) => {
    let n = 0;
    const call: ClientReadableStream<{ cursor: string }> = client.Subscribe({});
    call.on("data", (e: { cursor: string }) => {
      lastCursor = e.cursor;
      if (++n === N) {
        call.cancel();
        resolve();
      }
    });
    call.on("error", (err: { code: number }) => (err.code === 1 ? undefined : reject(err)));
  });
  const catchUpMs = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`catch-up: ${N} events in ${catchUpMs.toFixed(0)} ms = ${((N / catchUpMs) * 1000).toFixed(0)} events/s`);

  // Live: through Postgres and the relay.
  const store = createEventStore({ db: database.db });
  const relay = createOutboxRelay({ pool: database.pool, publisher });
  await relay.start();
  const waiting = new Map<string, (t: bigint) => void>();
  const call: ClientReadableStream<{ eventId: string }> = client.Subscribe({ sinceCursor: lastCursor });
  call.on("data", (e: { eventId: string }) => waiting.get(e.eventId)?.(process.hrtime.bigint()));
  call.on("error", () => {});
  const latencies: number[] = [];
  for (let i = 0; i < LIVE; i++) {
    const eventId = randomUUID();
    const received = new Promise<bigint>((resolve) => waiting.set(eventId, resolve));
    await store.appendToStream(`container-${randomBytes(32).toString("hex")}`, "no-stream", [
      { eventId, type: "ContainerCreated", schemaVersion: 1, data: { i }, metadata: {} },
    ]);
    const appended = process.hrtime.bigint();
    latencies.push(Number((await received) - appended) / 1e6);
    waiting.delete(eventId);
  }
  call.cancel();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(2);
  console.log(`live: append returned → subscriber received, ${LIVE} sequential events: p50 ${pct(50)} ms, p99 ${pct(99)} ms`);
  await relay.stop();
  await server.close();
} finally {
  await nats.cleanup();
  await database.drop();
}
