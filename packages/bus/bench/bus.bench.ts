// Rough numbers for the bus on the local NATS server: `pnpm exec tsx packages/bus/bench/bus.bench.ts`.
// Uses a throwaway prefix and removes its streams at the end.
import { randomUUID } from "node:crypto";
import { connectTestNats } from "@shoal/testing";
import {
  createIdempotentHandler,
  createInMemoryProcessedEventStore,
  createJetStreamEventPublisher,
  ensureStreams,
  eventsFilter,
  sendHostCommand,
  serveHostCommands,
  startDurableConsumer,
} from "../src/index";
import type { EventEnvelope } from "../src/index";

const N = Number(process.env.N ?? 2000);
const t = await connectTestNats();
try {
  const { events } = await ensureStreams(t.jsm, t.prefix);
  const publisher = createJetStreamEventPublisher(t.js, { prefix: t.prefix });
  const mk = (): EventEnvelope => ({
    eventId: randomUUID(), streamId: "c-1", streamVersion: 1, globalPosition: 1n, type: "ContainerStarted",
    schemaVersion: 1, data: { pid: 1 }, metadata: {}, recordedAt: new Date(),
  });
  const evs = Array.from({ length: N }, mk);
  let t0 = performance.now();
  for (const e of evs) await publisher.publish(e);
  const pubMs = performance.now() - t0;
  t0 = performance.now();
  for (const e of evs.slice(0, 500)) await publisher.publishWithAck(e);
  const dupMs = performance.now() - t0;

  let handled = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  t0 = performance.now();
  const c = await startDurableConsumer({
    js: t.js, jsm: t.jsm, stream: events, durableName: "bench", filterSubject: eventsFilter(t.prefix),
    handler: createIdempotentHandler({
      store: createInMemoryProcessedEventStore(), consumer: "bench",
      handle: async () => { if (++handled === N) done(); },
    }),
  });
  await all;
  const conMs = performance.now() - t0;
  await c.stop();

  const server = serveHostCommands(t.nc, { prefix: t.prefix, host: "h", handlers: { Echo: async (p) => p } });
  await t.nc.flush();
  const lat: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const s = performance.now();
    await sendHostCommand(t.nc, { prefix: t.prefix, host: "h", command: "Echo", payload: { i }, timeoutMs: 5000 });
    lat.push(performance.now() - s);
  }
  await server.stop();
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.floor(p * (lat.length - 1))]!.toFixed(3);
  console.log(JSON.stringify({
    events: N,
    publishSequentialPerSec: Math.round(N / (pubMs / 1000)),
    publishMedianMsApprox: (pubMs / N).toFixed(3),
    duplicateRepublishPerSec: Math.round(500 / (dupMs / 1000)),
    durableConsumeIdempotentPerSec: Math.round(N / (conMs / 1000)),
    hostCommandRttMs: { p50: q(0.5), p90: q(0.9), p99: q(0.99) },
  }, null, 2));
} finally {
  await t.cleanup();
}
