/**
 * Where the time of one StartContainer call goes, hop by hop, from passive sources that
 * share this machine's clock:
 *   - the event log: `events.recorded_at` of ContainerStartRequested, ContainerScheduled,
 *     ContainerIpcPrepared and ContainerStarted (when each append's transaction began);
 *   - JetStream's own receive timestamps of those events (published by their appender right
 *     after its commit; the outbox relay only for what that missed), read back from the
 *     stream after the runs by an ordered consumer, so that nothing follows them live here;
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
import { eventsStreamName } from "../../packages/bus/src/index";

/** One segment of a start, in the order they happen: [label, what it covers]. */
export const SEGMENTS = [
  ["CLI: spawn → ContainerCreated appended", "CLI runs only: the executable's start, connect, CreateContainer in"],
  ["api: request → StartRequested appended", "gRPC in, resolve, read stream, join check (recorded_at)"],
  ["api append → on JetStream", "append commit, eager publish (JetStream time)"],
  ["scheduler: delivery", "JetStream → placement handler begins (log time − logged ms: the durable consumer's delivery)"],
  ["scheduler: placement + append", "the `placement` log's ms"],
  ["publish: Scheduled → on JetStream", "handler's end → JetStream time (≤ 0: published before the log line)"],
  ["mount-manager: delivery + plan + append", "→ `IPC prepared` log (an owner's shm is mounted by the agent, in its start)"],
  ["publish: IpcPrepared → on JetStream", ""],
  ["api: IpcPrepared → host command", "the dispatcher's delivery and read, then the command; seen on NATS (this process's clock)"],
  ["agent + recording: command → Started appended", "spec, containerd create/task/start, the answer recorded (recorded_at)"],
  ["publish: Started → on JetStream", ""],
  ["api: Started → StartContainer reply", "watcher wake-up (in-process, may precede JetStream) + gRPC out (CLI: + print and exit)"],
] as const;

/** Segment durations in ms, in SEGMENTS order; NaN where a mark is missing. */
export type StartBreakdown = number[];

/** The services' pino JSON logs (whole text), for the marks they log. */
export interface ServiceLogs {
  api: string;
  scheduler: string;
  mountManager: string;
}

export interface StartTimeline {
  /** Epoch milliseconds with sub-millisecond resolution, on the clock Postgres and NATS use too. */
  now(): number;
  /**
   * Remembers a start of `containerId` the client began at `t0` and saw return at `t1`
   * (both `now()`), under `label`: a StartContainer call, or a whole `shoal run -d` process.
   */
  record(label: string, containerId: string, t0: number, t1: number): void;
  /** The breakdown of every recorded start, by label. */
  breakdowns(logs: ServiceLogs): Promise<Map<string, StartBreakdown[]>>;
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
  // StartContainer host commands as sent. (Nothing on `_INBOX.>`: a copy of every reply on
  // the server in this, the timing, process would slow the very calls it times.)
  nc.subscribe(`${opts.prefix}.host.*.cmd.*`, {
    callback: (_err, msg) => {
      const t = now();
      const command = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
      if (command !== "StartContainer") return;
      try {
        const body = JSON.parse(new TextDecoder().decode(msg.data)) as { containerId?: string };
        if (!body.containerId) return;
        mark(body.containerId, `cmd:${command}`, t);
      } catch {
        // another shape: not a start to time
      }
    },
  });
  // JetStream's receive times are read back from the stream after the runs (`breakdowns`),
  // not followed live: a consumer in this, the client's, process would take the CPU at the very
  // moment a reply arrives (ContainerStarted is published as the api answers).
  const since = new Date(Date.now() - 1_000);
  await nc.flush();

  const recorded: { label: string; containerId: string; t0: number; t1: number }[] = [];
  return {
    now,
    record(label, containerId, t0, t1) {
      recorded.push({ label, containerId, t0, t1 });
    },
    async breakdowns(logs) {
      await readPublished(nc, eventsStreamName(opts.prefix), `${opts.prefix}.evt.container.>`, since, (body: { streamId?: string; type?: string }, t) => {
        if (body.streamId?.startsWith("container-")) mark(body.streamId.slice("container-".length), `pub:${body.type}`, t);
      });
      const logMarks = parseLogMarks(logs);
      const out = new Map<string, StartBreakdown[]>();
      for (const r of recorded) {
        const rows = await sql<{ type: string; t: number }>`
          SELECT type, (extract(epoch from recorded_at) * 1000)::float8 AS t
          FROM events WHERE stream_id = ${`container-${r.containerId}`} ORDER BY stream_version`.execute(opts.db);
        const rec = new Map<string, number>();
        for (const row of rows.rows) if (!rec.has(row.type)) rec.set(row.type, Number(row.t));
        const m = marks.get(r.containerId) ?? new Map<string, number>();
        const l = logMarks.get(r.containerId) ?? new Map<string, number>();
        const placedAt = l.get("placement");
        const placementMs = l.get("placementMs");
        // ContainerCreated counts only when the timed call made it (a CLI `run`).
        const created = rec.get("ContainerCreated");
        const points = [
          r.t0,
          created !== undefined && created >= r.t0 ? created : OPTIONAL,
          rec.get("ContainerStartRequested"),
          m.get("pub:ContainerStartRequested"),
          placedAt !== undefined && placementMs !== undefined ? placedAt - placementMs : undefined,
          placedAt,
          m.get("pub:ContainerScheduled"),
          l.get("ipcPrepared"),
          m.get("pub:ContainerIpcPrepared"),
          m.get("cmd:StartContainer"),
          rec.get("ContainerStarted"),
          m.get("pub:ContainerStarted"),
          r.t1,
        ];
        // A missing mark merges its segment into the next one (NaN + the longer span).
        const segments: number[] = [];
        let last = r.t0;
        for (const p of points.slice(1)) {
          if (p === OPTIONAL) {
            segments.push(0); // a hop this start did not make
            continue;
          }
          if (p === undefined) {
            segments.push(Number.NaN);
            continue;
          }
          segments.push(p - last);
          last = p;
        }
        out.set(r.label, [...(out.get(r.label) ?? []), segments]);
      }
      return out;
    },
    async close() {
      await nc.drain();
    },
  };
}

/**
 * Every message on `filter` stored since `since`, with JetStream's receive time (epoch ms), in
 * stream order; returns once the consumer has caught up with what is stored now.
 */
async function readPublished(nc: NatsConnection, stream: string, filter: string, since: Date, onMessage: (body: any, serverMs: number) => void): Promise<void> {
  const consumer = await jetstream(nc).consumers.get(stream, {
    filter_subjects: filter,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: since.toISOString(),
  });
  if ((await consumer.info()).num_pending === 0) return;
  const messages: ConsumerMessages = await consumer.consume();
  for await (const m of messages) {
    try {
      onMessage(m.json(), m.info.timestampNanos / 1e6);
    } catch {
      // another shape: ignored
    }
    if (m.info.pending === 0) break;
  }
  await messages.close();
}

/** Stands for a mark of a hop that only some starts make (ContainerCreated: CLI runs only). */
const OPTIONAL = -1;

/** containerId → {placement, placementMs, ipcPrepared} (epoch ms) from the services' logs. */
function parseLogMarks(logs: ServiceLogs): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  const set = (id: string | undefined, k: string, v: number) => {
    if (id === undefined) return;
    let m = out.get(id);
    if (m === undefined) out.set(id, (m = new Map()));
    if (!m.has(k)) m.set(k, v);
  };
  const lines = (text: string) =>
    text.split("\n").flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, any>];
      } catch {
        return [];
      }
    });
  for (const o of lines(logs.scheduler)) {
    if (o.msg !== "placement" || typeof o.containerStream !== "string") continue;
    const id = o.containerStream.replace(/^container-/, "");
    set(id, "placement", o.time);
    set(id, "placementMs", o.ms);
  }
  for (const o of lines(logs.mountManager)) if (o.msg === "IPC prepared") set(o.containerId, "ipcPrepared", o.time);
  return out;
}
