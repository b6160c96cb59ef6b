/**
 * Placement latency: ContainerStartRequested committed → ContainerScheduled committed
 * (recorded_at of both), through the real outbox relay, JetStream and the scheduler's
 * durable consumer, one start at a time and then 20 at once.
 *
 *   node --import tsx services/scheduler/src/placement-latency.bench.ts
 */
import { randomBytes } from "node:crypto";
import pino from "pino";
import { sql } from "kysely";
import { containerStreamId } from "@shoal/domain";
import { publishHeartbeat } from "@shoal/bus";
import { startScheduler } from "./start-scheduler";
import { containerCommand } from "./testing/container-requests";
import { publishRegistration, startSchedulerTestInfra } from "./testing/test-infra";

const infra = await startSchedulerTestInfra();
const { database, nats, store } = infra;
const scheduler = await startScheduler({
  databaseUrl: database.url,
  natsUrl: process.env.SHOAL_NATS_URL ?? "nats://127.0.0.1:4222",
  subjectPrefix: nats.prefix,
  logger: pino({ level: process.env.SHOAL_BENCH_LOG ?? "silent" }, pino.destination(2)),
});
const beat = setInterval(() => publishHeartbeat(nats.nc, { prefix: nats.prefix, host: "h1" }), 500);

try {
  await publishRegistration(nats, "h1", { memoryBytes: 1024 ** 4 });
  while ((await sql`SELECT 1 FROM hosts`.execute(database.db)).rows.length === 0) await sleep(10);

  const run = async (containerId: string, i: number) => {
    const now = new Date().toISOString();
    await containerCommand(store, {
      type: "CreateContainer",
      data: { containerId, name: `c${i}`, hostConfig: { ipcMode: "private" }, source: { kind: "rootfs", path: "/r" }, args: ["sh"], env: [], createdAt: now },
    });
    await containerCommand(store, { type: "StartContainer", data: { containerId, now, experimental: false } });
    for (;;) {
      const events = await store.readStream(containerStreamId(containerId), { fromVersion: 3 });
      if (events.length > 0) return;
      await sleep(1);
    }
  };

  const sequential = Array.from({ length: 200 }, () => randomBytes(32).toString("hex"));
  for (const [i, id] of sequential.entries()) await run(id, i);
  report("one at a time (200)", await latencies(sequential));

  const burst = Array.from({ length: 20 }, () => randomBytes(32).toString("hex"));
  await Promise.all(burst.map((id, i) => run(id, 1000 + i)));
  report("20 at once", await latencies(burst));
} finally {
  clearInterval(beat);
  await scheduler.stop();
  await infra.close();
}


async function latencies(ids: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const id of ids) {
    const events = await store.readStream(containerStreamId(id));
    const requested = events.find((e) => e.type === "ContainerStartRequested")!;
    const scheduled = events.find((e) => e.type === "ContainerScheduled")!;
    out.push(scheduled.recordedAt.getTime() - requested.recordedAt.getTime());
  }
  return out.sort((a, b) => a - b);
}

function report(label: string, sorted: number[]): void {
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  console.log(`${label}: start requested → scheduled p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms, max ${sorted.at(-1)} ms`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
