/**
 * Where the time of one StartContainer call goes, hop by hop, from passive sources that
 * share this machine's clock:
 *   - the event log: `events.recorded_at` of ContainerStartRequested, ContainerScheduled,
 *     ContainerIpcPrepared and ContainerStarted (when each append's transaction began);
 *   - JetStream's own receive timestamps of those events (published by the outbox relay)
 *     and of the agent's ContainerStarted report, read by ordered consumers;
 *   - a core NATS subscription noting when the api's dispatcher sends the StartContainer
 *     host command (the only mark taken on this process's clock, so the most jittery).
 * The segments add up to the client's StartContainer time (gRPC in → gRPC out).
 */
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import type { ConsumerMessages } from "@nats-io/jetstream";
import { sql } from "kysely";
import type { Kysely } from "kysely";
import { eventsStreamName, reportsStreamName } from "../../packages/bus/src/index";

/** One segment of a start, in the order they happen: [label, what it covers]. */
export const SEGMENTS = [
  ["api: request → StartRequested appended", "gRPC in, resolve, read stream, join check"],
  ["relay: → StartRequested on JetStream", "rest of the append + outbox relay"],
  ["scheduler: → Scheduled appended", "delivery + placement reads"],
  ["relay: → Scheduled on JetStream", "rest of the append + relay"],
  ["mount-manager: → IpcPrepared appended", "delivery + IPC plan (+ shm mount)"],
  ["relay: → IpcPrepared on JetStream", "rest of the append + relay"],
  ["dispatcher: → host command sent", "delivery + read + payload"],
  ["agent: command → Started report", "spec, containerd create/task/start"],
  ["report recording: → Started appended", "report delivery + decide"],
  ["relay: → Started on JetStream", "rest of the append + relay"],
  ["api: Started → StartContainer reply", "watcher wake-up + gRPC out"],
] as const;

export type StartBreakdown = number[];

export interface StartTimeline {
  /** Epoch milliseconds with sub-millisecond resolution, on the clock Postgres uses too. */
  now(): number;
  /**
   * The segments (ms, in SEGMENTS order) of the start of `containerId` that the client
   * began at `t0` and saw return at `t1` (both from `now()`); undefined when a mark is
   * missing (e.g. the start failed).
   */
  breakdown(containerId: string, t0: number, t1: number): Promise<StartBreakdown | undefined>;
  close(): Promise<void>;
}

export async function observeStarts(opts: { natsUrl: string; prefix: string; db: Kysely<any> }): Promise<StartTimeline> {
  const nc: NatsConnection = await connect({ servers: opts.natsUrl, name: "bench-e2e-observer" });
  const now = () => performance.timeOrigin + performance.now();
  /** containerId → mark name → first time seen. */
  const marks = new Map<string, Map<string, number>>();
  const mark = (id: string, name: string, t: number) => {
    let m = marks.get(id);
    if (m === undefined) marks.set(id, (m = new Map()));
    if (!m.has(name)) m.set(name, t);
  };
  nc.subscribe(`${opts.prefix}.host.*.cmd.StartContainer`, {
    callback: (_err, msg) => {
      const t = now();
      try {
        const body = JSON.parse(new TextDecoder().decode(msg.data)) as { containerId?: string };
        if (body.containerId) mark(body.containerId, "cmd:StartContainer", t);
      } catch {
        // another shape: not a start to time
      }
    },
  });
  const js = jetstream(nc);
  const follow = async (stream: string, filter: string, onMessage: (body: any, serverMs: number) => void): Promise<ConsumerMessages> => {
    const consumer = await js.consumers.get(stream, { filter_subjects: filter, deliver_policy: DeliverPolicy.New });
    return consumer.consume({
      callback: (m) => {
        try {
          onMessage(m.json(), m.info.timestampNanos / 1e6);
        } catch {
          // another shape: ignored
        }
      },
    });
  };
  const consumers = await Promise.all([
    follow(eventsStreamName(opts.prefix), `${opts.prefix}.evt.container.>`, (body: { streamId?: string; type?: string }, t) => {
      if (body.streamId?.startsWith("container-")) mark(body.streamId.slice("container-".length), `pub:${body.type}`, t);
    }),
    follow(reportsStreamName(opts.prefix), `${opts.prefix}.host.*.report.ContainerStarted`, (body: { payload?: { containerId?: string } }, t) => {
      if (body.payload?.containerId) mark(body.payload.containerId, "report:ContainerStarted", t);
    }),
  ]);
  await nc.flush();

  return {
    now,
    async breakdown(containerId, t0, t1) {
      const rows = await sql<{ type: string; t: number }>`
        SELECT type, (extract(epoch from recorded_at) * 1000)::float8 AS t
        FROM events WHERE stream_id = ${`container-${containerId}`} ORDER BY stream_version`.execute(opts.db);
      const rec = new Map<string, number>();
      // The last StartRequested (a container may have been started before); the first of each later one.
      for (const r of rows.rows) {
        if (r.type === "ContainerStartRequested") rec.clear();
        if (!rec.has(r.type)) rec.set(r.type, Number(r.t));
      }
      const m = marks.get(containerId) ?? new Map<string, number>();
      const points = [
        t0,
        rec.get("ContainerStartRequested"),
        m.get("pub:ContainerStartRequested"),
        rec.get("ContainerScheduled"),
        m.get("pub:ContainerScheduled"),
        rec.get("ContainerIpcPrepared"),
        m.get("pub:ContainerIpcPrepared"),
        m.get("cmd:StartContainer"),
        m.get("report:ContainerStarted"),
        rec.get("ContainerStarted"),
        m.get("pub:ContainerStarted"),
        t1,
      ];
      marks.delete(containerId);
      if (points.some((p) => p === undefined)) return undefined;
      const ps = points as number[];
      return ps.slice(1).map((p, i) => p - ps[i]!);
    },
    async close() {
      for (const c of consumers) await c.close();
      await nc.drain();
    },
  };
}
