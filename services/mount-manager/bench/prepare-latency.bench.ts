// Latency of the preparation step per IPC mode, through the real pipeline on this machine:
// RecordScheduled appended → outbox relay → JetStream → mount-manager-prepare → ContainerIpcPrepared
// appended (an owner's with its group and mount order, in one transaction) → published → seen on NATS.
// The in-process fake agent answers the reconcile's and releases' commands; the preparation sends none.
// Prints p50/p99 per mode and the IPC-mode tax (shareable / member minus none).
// Run: pnpm exec tsx services/mount-manager/bench/prepare-latency.bench.ts [runs]
import { randomBytes, randomUUID } from "node:crypto";
import pino from "pino";
import { createJetStreamEventPublisher, ensureStreams, eventSubject, serveHostCommands } from "@shoal/bus";
import { CONTAINER_EVENT_SCHEMA_VERSIONS, containerDecider, containerStreamId } from "@shoal/domain";
import type { ContainerCommand, HostConfigInput } from "@shoal/domain";
import { createEventStore, createOutboxRelay, handleCommand } from "@shoal/event-store";
import { connectTestNats, createTestDatabase } from "@shoal/testing";
import { startMountManager } from "../src/index";

const runs = Number(process.argv[2] ?? 60);
const database = await createTestDatabase();
const nats = await connectTestNats();
try {
  await ensureStreams(nats.jsm, nats.prefix);
  const store = createEventStore({ db: database.db });
  const relay = createOutboxRelay({ pool: database.pool, publisher: createJetStreamEventPublisher(nats.js, { prefix: nats.prefix }) });
  await relay.start();
  const agent = serveHostCommands(nats.nc, {
    prefix: nats.prefix,
    host: "h1",
    handlers: {
      UnmountShm: async () => ({ unmounted: 1 }),
      ListContainers: async () => ({ containers: [] }),
    },
  });
  const mm = await startMountManager({
    db: database.db,
    pool: database.pool,
    nc: nats.nc,
    prefix: nats.prefix,
    reconcileIntervalMs: 0,
    metricsPort: 0,
    logger: pino({ level: "silent" }),
  });

  const waiters = new Map<string, () => void>();
  const sub = nats.nc.subscribe(eventSubject(nats.prefix, "ContainerIpcPrepared"));
  void (async () => {
    for await (const m of sub) {
      const id = (JSON.parse(new TextDecoder().decode(m.data)) as { data: { containerId: string } }).data.containerId;
      waiters.get(id)?.();
    }
  })();

  const command = (id: string, cmd: ContainerCommand) =>
    handleCommand(store, {
      streamId: containerStreamId(id),
      decider: containerDecider,
      command: cmd,
      eventId: () => randomUUID(),
      schemaVersion: (t) => CONTAINER_EVENT_SCHEMA_VERSIONS[t],
    });
  const now = () => new Date().toISOString();
  async function timeStart(name: string, hostConfig: HostConfigInput, pid?: number): Promise<{ id: string; ms: number }> {
    const id = randomBytes(32).toString("hex");
    await command(id, {
      type: "CreateContainer",
      data: { containerId: id, name, hostConfig, source: { kind: "rootfs", path: "/srv/rootfs" }, args: ["sh"], env: [], createdAt: now() },
    });
    await command(id, { type: "StartContainer", data: { containerId: id, now: now(), experimental: false } });
    const seen = new Promise<void>((resolve) => waiters.set(id, resolve));
    const t0 = performance.now();
    await command(id, { type: "RecordScheduled", data: { containerId: id, now: now(), host: "h1" } });
    await seen;
    const ms = performance.now() - t0;
    waiters.delete(id);
    if (pid !== undefined) {
      await command(id, {
        type: "RecordStarted",
        data: { containerId: id, now: now(), pid, runtime: { name: "runc", path: "/usr/sbin/runc", args: [] }, configVersion: 1 },
      });
    }
    return { id, ms };
  }

  const owner = await timeStart("bench-owner", { ipcMode: "shareable" }, 1234);
  const samples: Record<string, number[]> = { none: [], private: [], shareable: [], member: [] };
  for (let i = 0; i < runs; i++) {
    // Interleaved so drift on a shared machine hits every mode alike.
    samples.none!.push((await timeStart(`n${i}`, { ipcMode: "none" })).ms);
    samples.private!.push((await timeStart(`p${i}`, { ipcMode: "private" })).ms);
    samples.shareable!.push((await timeStart(`s${i}`, { ipcMode: "shareable" })).ms);
    samples.member!.push((await timeStart(`m${i}`, { ipcMode: `container:${owner.id}` })).ms);
  }
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
  console.log(`scheduled → ipc-prepared (ms), ${runs} runs each`);
  for (const [mode, xs] of Object.entries(samples)) console.log(`  ${mode.padEnd(9)} p50 ${pct(xs, 50).toFixed(2)}  p99 ${pct(xs, 99).toFixed(2)}`);
  const base = pct(samples.none!, 50);
  console.log(`IPC-mode tax at p50: shareable ${(pct(samples.shareable!, 50) - base).toFixed(2)} ms, member ${(pct(samples.member!, 50) - base).toFixed(2)} ms`);

  // The mount-manager's own share: its prepare histogram (sum / count per mode).
  const text = await (await fetch(`http://127.0.0.1:${mm.metricsPort}/metrics`)).text();
  const stat = (mode: string, what: "sum" | "count") =>
    Number(new RegExp(`shoal_mount_manager_prepare_seconds_${what}\\{mode="${mode}"\\} (\\S+)`).exec(text)?.[1] ?? NaN);
  console.log("mount-manager handler time, mean (ms):");
  for (const mode of ["none", "private", "shareable", "container"]) {
    console.log(`  ${mode.padEnd(9)} ${((stat(mode, "sum") / stat(mode, "count")) * 1000).toFixed(2)}`);
  }

  sub.unsubscribe();
  await mm.stop();
  await agent.stop();
  await relay.stop();
} finally {
  await nats.cleanup();
  await database.drop();
}
