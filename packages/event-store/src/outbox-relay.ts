import type pg from "pg";
import { UnavailableError } from "@shoal/domain";
import { translateError } from "./event-store";
import { createNotifiedLoop } from "./notified-loop";
import { silentLogger } from "./logger";
import type { Logger } from "./logger";

/** One appended event as handed to a publisher. */
export interface OutboxMessage {
  eventId: string;
  streamId: string;
  streamVersion: number;
  globalPosition: bigint;
  type: string;
  schemaVersion: number;
  data: unknown;
  metadata: Record<string, unknown>;
  recordedAt: Date;
}

/**
 * Sends outbox messages to the bus. `publish` resolves only once the message is durably
 * accepted (e.g. a JetStream ack); it chooses the subject and must set `Nats-Msg-Id = eventId`
 * so that a re-publish after a crash is dropped as a duplicate. A rejection leaves the message
 * and every later one in its batch unsent, to be retried.
 */
export interface OutboxPublisher {
  publish(message: OutboxMessage): Promise<void>;
}

export interface OutboxRelayOptions {
  /** Pool for draining; its `options` also open the dedicated LISTEN connection. */
  pool: pg.Pool;
  publisher: OutboxPublisher;
  logger?: Logger;
  /**
   * Events published per transaction (default 100). An append's outbox row may span several
   * batches: the published part of its range is recorded and the rest follows in the next one.
   */
  batchSize?: number;
  /** Safety re-check when no notification arrives, for a notification lost in transit (default 30 s). */
  recheckIntervalMs?: number;
  /**
   * Publishes awaiting their acknowledgement at once, never two of one stream (default 1:
   * strictly one at a time, in outbox order). Raise it (e.g. 32) for throughput when many
   * streams are active; a crash then may leave up to this many published-but-unsent rows.
   */
  maxInFlight?: number;
  /**
   * Wait this long after waking before draining (default 0). Where appenders publish their own
   * commits eagerly (`createEventStore({ publisher })`), a short wait lets them finish first,
   * so the relay only publishes what they did not, and stays off the start path.
   */
  settleMs?: number;
}

export interface OutboxRelay {
  /** Starts listening and draining; resolves once LISTEN is in place. UnavailableError if Postgres is not reachable. */
  start(): Promise<void>;
  /** Finishes the batch in flight (its publishes included), then stops listening. */
  stop(): Promise<void>;
}

interface OutboxRow {
  /** The outbox row (one per append) this event belongs to. */
  id: string;
  event_id: string;
  stream_id: string;
  stream_version: number;
  global_position: string;
  type: string;
  schema_version: number;
  data: unknown;
  metadata: Record<string, unknown>;
  recorded_at: Date;
}

/**
 * Publishes every appended event at least once. An outbox row stands for one append (a stream
 * and a version range); each batch claims rows in outbox order with `FOR UPDATE SKIP LOCKED`
 * (several relays may run; each row goes to one of them) and publishes their unsent events in
 * version order, up to `batchSize` events, with up to `maxInFlight` acknowledgements outstanding
 * but at most one per stream. In the same transaction each row records how far its range was
 * acknowledged (a prefix: after a failure nothing new is sent), and is marked sent once all of
 * it was. With one relay, a stream's messages
 * are published in stream order, also across failures and retries; messages of different
 * streams may overtake each other. With several relays, batches (and so streams) interleave.
 * The relay sleeps until a NOTIFY on `shoal_outbox` (or the safety re-check); a failing
 * publisher is retried with backoff (1 s doubling to 30 s).
 */
export function createOutboxRelay(opts: OutboxRelayOptions): OutboxRelay {
  const { pool, publisher } = opts;
  const logger = opts.logger ?? silentLogger;
  const batchSize = opts.batchSize ?? 100;
  const recheckIntervalMs = opts.recheckIntervalMs ?? 30_000;
  const maxInFlight = Math.max(1, opts.maxInFlight ?? 1);

  const drainBatch = async (): Promise<number> => {
    const client = await pool.connect();
    let failure: unknown;
    let fetched = 0;
    try {
      await client.query("BEGIN");
      // Rows claimed beyond the first `batchSize` events stay locked and untouched until COMMIT.
      const { rows } = await client.query<OutboxRow>(
        `WITH claimed AS MATERIALIZED (
           SELECT id, stream_id, sent_through_version, to_version FROM outbox
           WHERE sent_at IS NULL
           ORDER BY id
           LIMIT $1
           FOR UPDATE SKIP LOCKED
         )
         SELECT c.id, e.event_id, e.stream_id, e.stream_version, e.global_position, e.type, e.schema_version,
                e.data, e.metadata, e.recorded_at
         FROM claimed c
         JOIN events e ON e.stream_id = c.stream_id
                      AND e.stream_version > c.sent_through_version AND e.stream_version <= c.to_version
         ORDER BY c.id, e.stream_version
         LIMIT $1`,
        [batchSize],
      );
      fetched = rows.length;
      const acked = new Set<OutboxRow>();
      // Up to `maxInFlight` publishes overlap, but never two of one stream: a stream's next
      // message is sent only after the previous one was acknowledged. After a failure nothing
      // new is sent, so a stream's messages never overtake each other, even across retries.
      const inFlight = new Set<Promise<void>>();
      const lastOfStream = new Map<string, Promise<void>>();
      for (const row of rows) {
        if (failure !== undefined) break;
        const previous = lastOfStream.get(row.stream_id);
        if (previous) await previous;
        while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
        if (failure !== undefined) break;
        const message: OutboxMessage = {
          eventId: row.event_id,
          streamId: row.stream_id,
          streamVersion: row.stream_version,
          globalPosition: BigInt(row.global_position),
          type: row.type,
          schemaVersion: row.schema_version,
          data: row.data,
          metadata: row.metadata,
          recordedAt: row.recorded_at,
        };
        // Through a microtask so that a publisher throwing synchronously counts as a failed publish.
        const publishing: Promise<void> = Promise.resolve().then(() => publisher.publish(message)).then(
          () => {
            acked.add(row);
          },
          (err: unknown) => {
            failure ??= new UnavailableError(
              `publishing event ${row.event_id} (${row.type}) failed: ${(err as Error)?.message ?? err}`,
              { cause: err },
            );
          },
        );
        const tracked = publishing.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
        lastOfStream.set(row.stream_id, tracked);
      }
      await Promise.all(inFlight);
      // Per outbox row, the acknowledged prefix of its events (rows arrive in version order).
      const through = new Map<string, number>();
      const stopped = new Set<string>();
      for (const row of rows) {
        if (stopped.has(row.id)) continue;
        if (acked.has(row)) through.set(row.id, row.stream_version);
        else stopped.add(row.id);
      }
      if (through.size > 0) {
        await client.query(
          `UPDATE outbox o
           SET sent_through_version = p.through,
               sent_at = CASE WHEN p.through >= o.to_version THEN now() END
           FROM unnest($1::bigint[], $2::integer[]) AS p(id, through)
           WHERE o.id = p.id`,
          [[...through.keys()], [...through.values()]],
        );
      }
      await client.query("COMMIT");
      if (acked.size > 0) logger.debug({ sent: acked.size }, "outbox batch published");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      client.release(err instanceof Error ? err : true);
      throw translateError(err, "draining the outbox");
    }
    client.release();
    if (failure) throw failure;
    return fetched;
  };

  return createNotifiedLoop({
    pool,
    logger,
    failureMessage: "outbox relay failed; retrying",
    ...(opts.settleMs !== undefined ? { settleMs: opts.settleMs } : {}),
    async round(isRunning) {
      while (isRunning() && (await drainBatch()) === batchSize) {
        // a full batch: more rows are likely waiting
      }
      return recheckIntervalMs;
    },
  });
}
