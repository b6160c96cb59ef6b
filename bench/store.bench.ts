// Event store benchmark: one run against a fresh database (dropped afterwards).
//   (a) one-event appendToStream vs a plain autocommitted INSERT of a similar row   target ratio <= 1.5
//   (b) 100-event append vs one-event append                                       target ratio <= 1.5
//   (c) relay's sustained publish rate (real JetStream) vs sustained append rate    target ratio >= 1.0
// Latency ratios compare medians (p50); p99 is printed beside them. (b) is also shown as CPU time
// per operation (server backends from /proc, plus this process) when Postgres runs on this machine.
// Env: PGHOST/PGPORT/PGUSER (default 127.0.0.1:5432 postgres), SHOAL_NATS_URL (default nats://127.0.0.1:4222).
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createJetStreamEventPublisher, deleteStreams, ensureStreams } from "@shoal/bus";
import { createEventStore, createOutboxRelay, migrateToLatest } from "@shoal/event-store";
import type { EventStore, NewEvent, OutboxMessage } from "@shoal/event-store";

const host = process.env.PGHOST || "127.0.0.1";
const port = Number(process.env.PGPORT || 5432);
const user = process.env.PGUSER || "postgres";
const natsUrl = process.env.SHOAL_NATS_URL || "nats://127.0.0.1:4222";

const SINGLE_ITERATIONS = 1500;
const BATCH_ITERATIONS = 300;
const RATE_EVENTS = 3000;
const RATE_APPENDERS = 4;

function newEvent(): NewEvent {
  return {
    eventId: randomUUID(),
    type: "ContainerStarted",
    schemaVersion: 1,
    data: { containerId: randomBytes(32).toString("hex"), pid: 4242, runtime: { name: "runc", path: "/usr/bin/runc" }, configVersion: 3 },
    metadata: { correlationId: randomUUID(), causationId: randomUUID() },
  };
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/**
 * CPU time (ms) the database's backends have used so far, from /proc/<pid>/schedstat; undefined
 * when Postgres does not run on this machine. Wall-clock latencies on a shared, loaded machine
 * move a lot between runs; CPU spent per operation moves much less, so (b) is shown both ways.
 */
async function backendCpuClock(db: Kysely<any>): Promise<(() => number) | undefined> {
  const { rows } = await sql<{ pid: number }>`
    SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'`.execute(db);
  const read = (pid: number) => Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
  try {
    for (const { pid } of rows) read(pid);
  } catch {
    return undefined;
  }
  return () => rows.reduce((sum, { pid }) => sum + (existsSync(`/proc/${pid}/schedstat`) ? read(pid) : 0), 0);
}

/** Server (backend) and client (this process) CPU ms of one sequential operation. */
async function cpuOf(clock: (() => number) | undefined, fn: () => Promise<unknown>): Promise<[number, number]> {
  const server0 = clock?.() ?? 0;
  const client0 = process.cpuUsage();
  await fn();
  const client = process.cpuUsage(client0);
  return [(clock?.() ?? 0) - server0, (client.user + client.system) / 1000];
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ host, port, user, database: "postgres" });
  try {
    await c.connect();
  } catch (err) {
    throw new Error(`PostgreSQL not reachable at ${host}:${port} — run \`npm start\` which starts it (${(err as Error).message})`);
  }
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Streams with known versions, so appends take the common expected-version path. */
class Streams {
  private readonly versions = new Map<string, number>();
  constructor(
    private readonly store: EventStore,
    private readonly ids: string[],
  ) {
    for (const id of ids) this.versions.set(id, 0);
  }
  private next = 0;
  async append(events: NewEvent[], id = this.ids[this.next++ % this.ids.length]!): Promise<void> {
    const { nextVersion } = await this.store.appendToStream(id, this.versions.get(id)!, events);
    this.versions.set(id, nextVersion);
  }
}

async function main(): Promise<void> {
  const name = `shoal_bench_${randomBytes(5).toString("hex")}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const pool = new pg.Pool({ host, port, user, database: name, max: 6 });
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  const nc = await connect({ servers: natsUrl, timeout: 5_000 }).catch((err: Error) => {
    throw new Error(`NATS not reachable at ${natsUrl} — run \`npm start\` which starts it (${err.message})`);
  });
  const prefix = `bench${randomBytes(4).toString("hex")}`;
  const jsm = await jetstreamManager(nc);
  try {
    await migrateToLatest(db);
    await ensureStreams(jsm, prefix);
    const store = createEventStore({ db });
    await sql`CREATE TABLE plain_events (
      id bigserial PRIMARY KEY, stream_id text NOT NULL, stream_version integer NOT NULL, event_id uuid NOT NULL,
      type text NOT NULL, schema_version integer NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT now())`.execute(db);
    let plainVersion = 0;
    const plainInsert = (e: NewEvent) =>
      sql`INSERT INTO plain_events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
          VALUES ('plain', ${++plainVersion}, ${e.eventId}, ${e.type}, ${e.schemaVersion}, ${JSON.stringify(e.data)}::jsonb,
                  ${JSON.stringify(e.metadata)}::jsonb)`.execute(db);

    // Reference for (b): the same 100 rows as ONE plain multi-row INSERT into an index-less table.
    const plainBatch = (events: NewEvent[]) =>
      sql`INSERT INTO plain_events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
          SELECT 'plain', ${++plainVersion * 1000}::int + ord::int, id, ty, sv, d::jsonb, m::jsonb
          FROM unnest(${events.map((e) => e.eventId)}::uuid[], ${events.map((e) => e.type)}::text[],
                      ${events.map((e) => e.schemaVersion)}::int[], ${events.map((e) => JSON.stringify(e.data))}::text[],
                      ${events.map((e) => JSON.stringify(e.metadata))}::text[]) WITH ORDINALITY AS t(id, ty, sv, d, m, ord)`.execute(db);

    const streams = new Streams(store, Array.from({ length: 50 }, (_, i) => `container-${i}-${randomUUID()}`));

    // Warm up connections, plans and caches.
    for (let i = 0; i < 200; i++) {
      await streams.append([newEvent()]);
      await plainInsert(newEvent());
    }
    for (let i = 0; i < 20; i++) await streams.append(Array.from({ length: 100 }, newEvent));

    // (a) interleaved so both see the same machine conditions.
    const append1: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < SINGLE_ITERATIONS; i++) {
      append1.push(await timed(() => streams.append([newEvent()])));
      plain.push(await timed(() => plainInsert(newEvent())));
    }
    // (b)
    const append100: number[] = [];
    const append1b: number[] = [];
    const plain100: number[] = [];
    const plain1b: number[] = [];
    for (let i = 0; i < BATCH_ITERATIONS; i++) {
      const batch = Array.from({ length: 100 }, newEvent);
      append100.push(await timed(() => streams.append(batch)));
      append1b.push(await timed(() => streams.append([newEvent()])));
      const rows = Array.from({ length: 100 }, newEvent);
      plain100.push(await timed(() => plainBatch(rows)));
      plain1b.push(await timed(() => plainInsert(newEvent())));
    }
    // (b) again, as CPU time per operation (server backends + this process), same interleaving.
    const clock = await backendCpuClock(db);
    const cpu = { append100: [] as number[][], append1: [] as number[][], plain100: [] as number[][], plain1: [] as number[][] };
    for (let i = 0; clock && i < BATCH_ITERATIONS; i++) {
      const batch = Array.from({ length: 100 }, newEvent);
      cpu.append100.push(await cpuOf(clock, () => streams.append(batch)));
      cpu.append1.push(await cpuOf(clock, () => streams.append([newEvent()])));
      const rows = Array.from({ length: 100 }, newEvent);
      cpu.plain100.push(await cpuOf(clock, () => plainBatch(rows)));
      cpu.plain1.push(await cpuOf(clock, () => plainInsert(newEvent())));
    }

    // (c) sustained append rate: concurrent appenders, one event per append, relay not running.
    await sql`UPDATE outbox SET sent_at = now() WHERE sent_at IS NULL`.execute(db);
    const appendBacklog = async (): Promise<number> => {
      const start = performance.now();
      await Promise.all(
        Array.from({ length: RATE_APPENDERS }, async (_, w) => {
          const own = new Streams(store, [`rate-${w}-${randomUUID()}`]);
          for (let i = 0; i < RATE_EVENTS / RATE_APPENDERS; i++) await own.append([newEvent()]);
        }),
      );
      return (performance.now() - start) / 1000;
    };

    // ... and the relay draining such a backlog into JetStream: once with the default (one publish
    // at a time), once with 32 in flight across streams, each after a fresh backlog.
    const js = jetstream(nc, { timeout: 5_000 });
    const busPublisher = createJetStreamEventPublisher(js, { prefix });
    let published = 0;
    let drained!: () => void;
    const publisher = {
      async publish(m: OutboxMessage) {
        await busPublisher.publish(m);
        if (++published === RATE_EVENTS) drained();
      },
    };
    const drainBacklog = async (maxInFlight: number | undefined): Promise<number> => {
      published = 0;
      const allPublished = new Promise<void>((r) => (drained = r));
      const r = createOutboxRelay({ pool, publisher, batchSize: 200, maxInFlight });
      const start = performance.now();
      await r.start();
      await allPublished;
      const seconds = (performance.now() - start) / 1000;
      await r.stop();
      return seconds;
    };
    const appendSeconds = await appendBacklog();
    const relaySeconds = await drainBacklog(undefined);
    const appendSeconds2 = await appendBacklog();
    const relay32Seconds = await drainBacklog(32);
    const relay = createOutboxRelay({ pool, publisher, batchSize: 200 });
    await relay.start();

    // Live: relay running while the appenders run; how far behind is it when they stop?
    published = 0;
    const liveDone = new Promise<void>((r) => (drained = r));
    const liveStart = performance.now();
    await Promise.all(
      Array.from({ length: RATE_APPENDERS }, async (_, w) => {
        const own = new Streams(store, [`live-${w}-${randomUUID()}`]);
        for (let i = 0; i < RATE_EVENTS / RATE_APPENDERS; i++) await own.append([newEvent()]);
      }),
    );
    const liveAppendEnd = performance.now();
    await liveDone;
    const liveLagMs = performance.now() - liveAppendEnd;
    const liveSeconds = (liveAppendEnd - liveStart) / 1000;
    await relay.stop();
    const streamInfo = await jsm.streams.info(`${prefix.toUpperCase()}_EVENTS`);

    const appendRate = (2 * RATE_EVENTS) / (appendSeconds + appendSeconds2);
    const publishRate = RATE_EVENTS / relaySeconds;
    const publishRate32 = RATE_EVENTS / relay32Seconds;
    const f = (n: number) => n.toFixed(2).padStart(8);
    console.log("\nlatency (ms)                                   p50       p99      n");
    const row = (label: string, s: number[]) =>
      console.log(`${label.padEnd(44)}${f(percentile(s, 50))}  ${f(percentile(s, 99))}  ${String(s.length).padStart(5)}`);
    row("appendToStream, 1 event", append1);
    row("plain INSERT (autocommit), 1 row", plain);
    row("appendToStream, 100 events", append100);
    row("appendToStream, 1 event (during b)", append1b);
    row("reference: plain 100-row INSERT, no index", plain100);
    row("reference: plain 1-row INSERT (during b)", plain1b);
    console.log("\nthroughput                                     events/s");
    console.log(`${"append, " + RATE_APPENDERS + " concurrent appenders, 1 event each".padEnd(0)}`.padEnd(47) + appendRate.toFixed(0).padStart(8));
    console.log(`${"relay -> JetStream, backlog of " + RATE_EVENTS + " (default)"}`.padEnd(47) + publishRate.toFixed(0).padStart(8));
    console.log(`${"relay -> JetStream, same, maxInFlight 32"}`.padEnd(47) + publishRate32.toFixed(0).padStart(8));
    console.log(
      `${"live: appends with relay running"}`.padEnd(47) +
        (RATE_EVENTS / liveSeconds).toFixed(0).padStart(8) +
        `   relay lag after last append: ${liveLagMs.toFixed(0)} ms`,
    );
    console.log(
      `JetStream stream ${streamInfo.config.name} holds ${streamInfo.state.messages} messages (expected ${3 * RATE_EVENTS})`,
    );

    if (clock) {
      const mean = (xs: number[][], k: number) => xs.reduce((a, x) => a + x[k]!, 0) / xs.length;
      console.log("\nCPU per operation, (b) repeated (ms, mean)       server   client    total");
      const cpuRow = (label: string, xs: number[][]) =>
        console.log(`${label.padEnd(47)}${f(mean(xs, 0))} ${f(mean(xs, 1))} ${f(mean(xs, 0) + mean(xs, 1))}`);
      cpuRow("appendToStream, 100 events", cpu.append100);
      cpuRow("appendToStream, 1 event", cpu.append1);
      cpuRow("reference: plain 100-row INSERT, no index", cpu.plain100);
      cpuRow("reference: plain 1-row INSERT", cpu.plain1);
      const total = (xs: number[][]) => mean(xs, 0) + mean(xs, 1);
      console.log(
        `CPU ratios: append 100 / append 1 = ${(total(cpu.append100) / total(cpu.append1)).toFixed(2)}` +
          ` (server only ${(mean(cpu.append100, 0) / mean(cpu.append1, 0)).toFixed(2)});` +
          ` plain 100 / plain 1 = ${(total(cpu.plain100) / total(cpu.plain1)).toFixed(2)}` +
          ` (server only ${(mean(cpu.plain100, 0) / mean(cpu.plain1, 0)).toFixed(2)})`,
      );
    }

    const ratios: Array<[string, number, number, string, string]> = [
      ["(a) append 1 / plain INSERT, p50", percentile(append1, 50) / percentile(plain, 50), 1.5, "<=", `p99 ratio ${(percentile(append1, 99) / percentile(plain, 99)).toFixed(2)}`],
      ["(b) append 100 / append 1, p50", percentile(append100, 50) / percentile(append1b, 50), 1.5, "<=", `p99 ratio ${(percentile(append100, 99) / percentile(append1b, 99)).toFixed(2)}`],
      ["    reference: plain 100 rows / 1 row", percentile(plain100, 50) / percentile(plain1b, 50), 1.5, "<=", "what Postgres itself does here"],
      ["(c) relay publish rate / append rate", publishRate / appendRate, 1.0, ">=", `default relay: ${publishRate.toFixed(0)} vs ${appendRate.toFixed(0)} events/s`],
      ["(c) same, relay with maxInFlight 32", publishRate32 / appendRate, 1.0, ">=", `${publishRate32.toFixed(0)} vs ${appendRate.toFixed(0)} events/s`],
    ];
    console.log("\nratio                                    value  target   result  note");
    for (const [label, value, target, op, note] of ratios) {
      const pass = op === "<=" ? value <= target : value >= target;
      console.log(`${label.padEnd(40)}${value.toFixed(2).padStart(6)}  ${op} ${target.toFixed(1)}   ${pass ? "PASS" : "MISS"}    ${note}`);
    }
  } finally {
    await deleteStreams(jsm, prefix).catch(() => {});
    await nc.close();
    await db.destroy();
    await admin(async (c) => {
      for (let i = 0; i < 100; i++) {
        const open = await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1`, [name]);
        if (open.rows[0].n === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench:store failed: ${(err as Error)?.stack ?? err}`);
    process.exit(1);
  },
);
