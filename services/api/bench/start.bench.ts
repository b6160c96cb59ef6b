/**
 * The api's share of a start: StartContainer → running with a fake agent that answers at
 * once, and a stand-in for scheduler + mount-manager that appends ContainerScheduled and
 * ContainerIpcPrepared as soon as ContainerStartRequested is published. Everything else is
 * real (Postgres appends, outbox relay, JetStream, durable consumers, report recording).
 *
 *   pnpm exec tsx services/api/bench/start.bench.ts [count] [concurrency]
 */
import { derivedEventId } from "@shoal/domain";
import { runContainerCommand } from "../src/api-context";
import { createApiTestBed } from "../src/testing/api-test-bed";

const count = Number(process.argv[2] ?? 100);
const concurrency = Number(process.argv[3] ?? 1);

const bed = await createApiTestBed();
try {
  // Scheduler + mount-manager stand-in, driven by the published event (no polling).
  const sub = bed.nats.nc.subscribe(`${bed.nats.prefix}.evt.container.ContainerStartRequested`, {
    callback: (_err, msg) => {
      const e = JSON.parse(new TextDecoder().decode(msg.data)) as { eventId: string; data: { containerId: string } };
      const containerId = e.data.containerId;
      void (async () => {
        const now = new Date().toISOString();
        await runContainerCommand({ store: bed.store }, { type: "RecordScheduled", data: { containerId, now, host: "h1" } }, { eventIdOf: () => derivedEventId(`bench-s:${e.eventId}`) });
        await runContainerCommand(
          { store: bed.store },
          { type: "RecordIpcPrepared", data: { containerId, now, plan: { mode: "private", shmSizeBytes: 65536 } } },
          { eventIdOf: () => derivedEventId(`bench-i:${e.eventId}`) },
        );
      })().catch((err: unknown) => console.error(err));
    },
  });
  await bed.nats.nc.flush();

  // Phase timestamps per container, from core NATS subscriptions (they see JetStream publishes too).
  const marks = new Map<string, Record<string, number>>();
  const mark = (id: string, what: string) => {
    const m = marks.get(id) ?? {};
    m[what] ??= performance.now();
    marks.set(id, m);
  };
  const idOf = (data: Uint8Array) => {
    const o = JSON.parse(new TextDecoder().decode(data)) as { data?: { containerId?: string }; containerId?: string; payload?: { containerId?: string } };
    return o.data?.containerId ?? o.containerId ?? o.payload?.containerId ?? "";
  };
  const p = bed.nats.prefix;
  for (const [subject, what] of [
    [`${p}.evt.container.ContainerStartRequested`, "1 requested published"],
    [`${p}.evt.container.ContainerScheduled`, "2 scheduled published"],
    [`${p}.evt.container.ContainerIpcPrepared`, "3 prepared published"],
    [`${p}.host.h1.cmd.StartContainer`, "4 agent asked"],
    [`${p}.host.h1.report.ContainerStarted`, "5 report published"],
    [`${p}.evt.container.ContainerStarted`, "6 started published"],
  ] as const) {
    bed.nats.nc.subscribe(subject, { callback: (_e, msg) => mark(idOf(msg.data), what) });
  }
  await bed.nats.nc.flush();
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push((await bed.call<{ id: string }>("CreateContainer", { name: `b${i}`, rootfs: bed.rootfs, args: ["true"] })).id);
  }
  // Warm-up.
  await bed.call("StartContainer", { container: ids.shift()! });

  const times: number[] = [];
  const began = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        const t = performance.now();
        mark(id, "0 rpc sent");
        const res = await bed.call<{ failed: boolean }>("StartContainer", { container: id });
        mark(id, "7 rpc returned");
        if (res.failed) throw new Error("start failed");
        times.push(performance.now() - t);
      }
    }),
  );
  const total = performance.now() - began;
  if (process.env.TRACE) {
    const phases: Record<string, number[]> = {};
    for (const id of ids) {
      const m = marks.get(id);
      if (!m) continue;
      const keys = Object.keys(m).sort();
      for (let i = 1; i < keys.length; i++) (phases[`${keys[i - 1]} -> ${keys[i]}`] ??= []).push(m[keys[i]!]! - m[keys[i - 1]!]!);
    }
    for (const [k, v] of Object.entries(phases)) {
      v.sort((a, b) => a - b);
      console.log(`${k}: p50 ${v[Math.floor(v.length / 2)]!.toFixed(1)} ms`);
    }
    const { containerStreamId } = await import("@shoal/domain");
    for (const id of ids.slice(0, 5)) {
      const ev = await bed.store.readStream(containerStreamId(id));
      const t0 = ev[1]!.recordedAt.getTime();
      console.log(ev.slice(1).map((e) => `${e.type.replace("Container", "")}+${e.recordedAt.getTime() - t0}`).join(" "));
    }
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(1);
  console.log(
    JSON.stringify({ starts: times.length, concurrency, p50_ms: q(0.5), p90_ms: q(0.9), p99_ms: q(0.99), max_ms: times.at(-1)!.toFixed(1), starts_per_s: ((times.length / total) * 1000).toFixed(1) }),
  );
  sub.unsubscribe();
} finally {
  await bed.close();
}
