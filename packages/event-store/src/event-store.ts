import { sql } from "kysely";
import type { Kysely, Selectable, Transaction } from "kysely";
import {
  AbortedError,
  AlreadyExistsError,
  InternalError,
  InvalidArgumentError,
  ShoalError,
  UnavailableError,
} from "@shoal/domain";
import { eventStoreTables } from "./event-store-database";
import type { EventStoreDatabase, EventsTable, KyselyOrTransaction } from "./event-store-database";
import type { ExpectedVersion, NewEvent, RecordedEvent } from "./event-types";
import { decodeGlobalCursor, encodeGlobalCursor } from "./global-cursor";
import type { GlobalCursor } from "./global-cursor";
import { silentLogger } from "./logger";
import type { Logger } from "./logger";
import type { OutboxMessage, OutboxPublisher } from "./outbox-relay";

/** The NOTIFY channel every append signals after writing its outbox rows. */
export const outboxChannel = "shoal_outbox";

export interface AppendOptions<DB extends EventStoreDatabase = EventStoreDatabase> {
  /**
   * Run the append inside this transaction (a kysely `Transaction` from `db.transaction()`)
   * instead of its own. The events, outbox rows and notification then commit or roll back with
   * the caller's other writes (e.g. a projection row). A version conflict is reported as
   * AbortedError WITHOUT putting the transaction into an error state: the caller decides
   * whether to roll back.
   */
  trx?: KyselyOrTransaction<DB>;
}

export interface AppendResult {
  /** The stream's version after the append: pass it as `expectedVersion` to append after it. */
  nextVersion: number;
  /** The global position of each appended event, in the order given. */
  globalPositions: bigint[];
}

export interface EventStoreOptions<DB extends EventStoreDatabase = EventStoreDatabase> {
  /** A database holding the event store's tables (and the caller's own). */
  db: Kysely<DB>;
  /**
   * Publish what this store commits right after the commit ("eager publish"), then mark the
   * append's outbox row sent; the outbox relay remains the safety net (a failed publish, or a
   * crash between commit and publish, leaves the row for it). Appends in a transaction are
   * published only when it was opened with `transaction`. The publisher must set
   * `Nats-Msg-Id = eventId`, so the relay's re-publish of a row this store is still marking is
   * dropped as a duplicate. Without it the store only writes, and the relay publishes.
   */
  publisher?: OutboxPublisher;
  logger?: Logger;
}

export interface ReadStreamOptions<DB extends EventStoreDatabase = EventStoreDatabase> {
  /** First stream version to return (default 1). */
  fromVersion?: number;
  /** At most this many events (default: all). */
  limit?: number;
  /** Read inside this transaction, e.g. to load state and append in one unit of work. */
  trx?: KyselyOrTransaction<DB>;
}

export interface ReadAllOptions {
  /** Return events after this cursor; `globalCursorStart` reads from the beginning. */
  after: GlobalCursor;
  /** At most this many events (1..10000). */
  limit: number;
}

/** An event read from the global order, with the cursor that resumes right after it. */
export interface GlobalEvent extends RecordedEvent {
  cursor: GlobalCursor;
}

export interface ReadAllResult {
  /** Committed events after `after`, in cursor order. */
  events: GlobalEvent[];
  /** The cursor to pass as `after` next time (`after` itself when no events were returned). */
  cursor: GlobalCursor;
  /**
   * True when committed events exist that are not released yet because an older transaction
   * that may write to this database is still running. They are released once it ends; that
   * end sends no notification, so a follower should poll again soon rather than wait for one.
   */
  withheld: boolean;
}

export interface EventStore {
  /**
   * Appends `events` (at least one) to `streamId` atomically, checking `expectedVersion`.
   * Writes one outbox row per event and notifies `shoal_outbox` in the same transaction, in a
   * single statement (one round trip) calling the `shoal_append_events` function.
   *
   * Errors: AbortedError when the stream is not at the expected version (including when a
   * concurrent appender won the race); AlreadyExistsError when an event id is already recorded;
   * InvalidArgumentError for malformed input; UnavailableError when Postgres cannot be reached;
   * InternalError otherwise. Nothing is written when any error is thrown.
   */
  appendToStream<DB extends EventStoreDatabase>(
    streamId: string,
    expectedVersion: ExpectedVersion,
    events: readonly NewEvent[],
    opts?: AppendOptions<DB>,
  ): Promise<AppendResult>;

  /**
   * Appends to several streams in ONE statement (`shoal_append_to_streams`), all or nothing,
   * in the order given, each append as `appendToStream` makes it (its own version check and
   * outbox row). AbortedError names the first stream not at its expected version; nothing is
   * written then. Published (with a `publisher`) after the commit, in the order given. For a
   * decision that spans streams without the round trips of a transaction.
   */
  appendToStreams<DB extends EventStoreDatabase>(
    appends: readonly { streamId: string; expectedVersion: ExpectedVersion; events: readonly NewEvent[] }[],
    opts?: AppendOptions<DB>,
  ): Promise<AppendResult[]>;

  /** The stream's events in version order; an empty array when the stream does not exist. */
  readStream<DB extends EventStoreDatabase>(streamId: string, opts?: ReadStreamOptions<DB>): Promise<RecordedEvent[]>;

  /**
   * Several streams in ONE query (one round trip, one backend, where a decision reads a few):
   * each stream's events from its `fromVersion` (default 1), in version order, keyed by
   * stream id; a stream that does not exist maps to `[]`.
   */
  readStreams<DB extends EventStoreDatabase>(
    streams: readonly { streamId: string; fromVersion?: number }[],
    opts?: { trx?: KyselyOrTransaction<DB> },
  ): Promise<Map<string, RecordedEvent[]>>;

  /**
   * Committed events of all streams in global cursor order. Never skips an event: an event is
   * released only when every transaction that could still commit an earlier-ordered event has
   * ended, so events that commit out of sequence order are returned after, not lost.
   */
  readAll(opts: ReadAllOptions): Promise<ReadAllResult>;

  /**
   * Runs `fn` in one Postgres transaction opened on `db` (`db.transaction().execute`); pass the
   * `trx` it gets to appends and reads, and use it for the caller's own tables. `db` must be a
   * Kysely over this store's database, typed with the caller's tables (e.g. the same Kysely the
   * store was made with). After the commit, the appends made in it are published (with a
   * `publisher`) before this resolves.
   */
  transaction<T, DB extends EventStoreDatabase>(db: Kysely<DB>, fn: (trx: Transaction<DB>) => Promise<T>): Promise<T>;
}

/**
 * How long after an eager publish its outbox row is marked sent; well inside the relay's
 * settle (FOLLOWER_SETTLE_MS), so the relay finds it marked and publishes nothing again.
 */
const MARK_SENT_DELAY_MS = 25;

export function createEventStore<DB extends EventStoreDatabase>(opts: EventStoreOptions<DB>): EventStore {
  const { publisher } = opts;
  const db = eventStoreTables(opts.db);
  const logger = opts.logger ?? silentLogger;
  /** Appends made inside `transaction`s still open (keyed by their `Transaction`), to publish once they commit. */
  const uncommitted = new WeakMap<object, Appended[]>();

  const publishCommitted = async (appended: readonly Appended[]): Promise<void> => {
    if (publisher === undefined || appended.length === 0) return;
    const sent: string[] = [];
    try {
      for (const a of appended) {
        for (const m of a.messages) await publisher.publish(m);
        sent.push(a.outboxId);
      }
    } catch (err) {
      // The relay (woken by the append's NOTIFY) publishes what is left.
      logger.debug({ err }, "eager publish failed; the outbox relay will publish");
    }
    markSent(sent);
  };

  // Marked a little later, in one statement per batch: off the caller's path, and off the
  // path of what the publish sets going (the next service's read and append). A row left
  // unmarked (the process ended first) is only re-published (a duplicate JetStream drops).
  const unmarked = new Set<string>();
  let marking: NodeJS.Timeout | undefined;
  const markSent = (ids: readonly string[]): void => {
    for (const id of ids) unmarked.add(id);
    if (marking !== undefined || unmarked.size === 0) return;
    marking = setTimeout(() => {
      marking = undefined;
      const batch = [...unmarked];
      unmarked.clear();
      void db
        .updateTable("outbox")
        .set((eb) => ({ sent_through_version: eb.ref("to_version"), sent_at: sql<Date>`now()` }))
        .where("id", "in", batch)
        .where("sent_at", "is", null)
        .execute()
        .catch((err: unknown) => logger.debug({ err }, "could not mark eagerly published outbox rows sent"));
    }, MARK_SENT_DELAY_MS);
    marking.unref();
  };

  /** Publishes what an append wrote once it has committed: now, or when `trx` commits. */
  const published = async (trx: Kysely<EventStoreDatabase> | undefined, appended: Appended[]): Promise<AppendResult[]> => {
    // Outside a transaction (also `trx` = a plain Kysely) the statement has committed.
    if (trx === undefined || !trx.isTransaction) await publishCommitted(appended);
    else uncommitted.get(trx)?.push(...appended);
    return appended.map((a) => ({ nextVersion: a.nextVersion, globalPositions: a.globalPositions }));
  };

  return {
    async appendToStream(streamId, expectedVersion, events, appendOpts) {
      const trx = appendOpts?.trx === undefined ? undefined : eventStoreTables(appendOpts.trx);
      const [result] = await published(trx, [await appendToStream(trx ?? db, streamId, expectedVersion, events)]);
      return result!;
    },
    async appendToStreams(appends, appendOpts) {
      const trx = appendOpts?.trx === undefined ? undefined : eventStoreTables(appendOpts.trx);
      return published(trx, await appendToStreams(trx ?? db, appends));
    },
    readStream: (streamId, readOpts) => readStream(readOpts?.trx === undefined ? db : eventStoreTables(readOpts.trx), streamId, readOpts ?? {}),
    readStreams: (streams, readOpts) => readStreams(readOpts?.trx === undefined ? db : eventStoreTables(readOpts.trx), streams),
    readAll: (readOpts) => readAllWith(db, readOpts),
    async transaction(on, fn) {
      const appended: Appended[] = [];
      const result = await on.transaction().execute(async (trx) => {
        uncommitted.set(trx, appended);
        return fn(trx);
      });
      await publishCommitted(appended);
      return result;
    },
  };
}

/** One append as written: what it returns, plus its outbox row and messages for the eager publish. */
interface Appended extends AppendResult {
  outboxId: string;
  messages: OutboxMessage[];
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function validateAppend(streamId: string, expectedVersion: ExpectedVersion, events: readonly NewEvent[]): void {
  if (typeof streamId !== "string" || streamId.length === 0) {
    throw new InvalidArgumentError("stream id must be a non-empty string");
  }
  if (
    expectedVersion !== "any" &&
    expectedVersion !== "no-stream" &&
    !(Number.isSafeInteger(expectedVersion) && expectedVersion >= 0)
  ) {
    throw new InvalidArgumentError(`expected version must be a non-negative integer, "no-stream" or "any"`);
  }
  if (events.length === 0) throw new InvalidArgumentError(`no events to append to stream ${streamId}`);
  for (const event of events) {
    if (!uuidPattern.test(event.eventId)) {
      throw new InvalidArgumentError(`event id ${JSON.stringify(event.eventId)} is not a UUID`);
    }
    if (typeof event.type !== "string" || event.type.length === 0) {
      throw new InvalidArgumentError(`event ${event.eventId} has no type`);
    }
    if (!Number.isSafeInteger(event.schemaVersion) || event.schemaVersion < 1) {
      throw new InvalidArgumentError(`event ${event.eventId} schema version must be a positive integer`);
    }
  }
}

/** The `p_events` argument of `shoal_append_events`. */
function eventsPayload(events: readonly NewEvent[]) {
  return events.map((e) => ({
    eventId: e.eventId,
    type: e.type,
    schemaVersion: e.schemaVersion,
    data: e.data ?? null,
    metadata: e.metadata ?? {},
  }));
}

/** `shoal_append_events`'s `p_expected`: -1 any, 0 no stream, else the version. */
function expectedArgument(expectedVersion: ExpectedVersion): number {
  return expectedVersion === "any" ? -1 : expectedVersion === "no-stream" ? 0 : expectedVersion;
}

async function appendToStreams(
  executor: Kysely<EventStoreDatabase>,
  appends: readonly { streamId: string; expectedVersion: ExpectedVersion; events: readonly NewEvent[] }[],
): Promise<Appended[]> {
  if (appends.length === 0) throw new InvalidArgumentError("no appends");
  for (const a of appends) validateAppend(a.streamId, a.expectedVersion, a.events);
  const payload = JSON.stringify(
    appends.map((a) => ({ streamId: a.streamId, expected: expectedArgument(a.expectedVersion), events: eventsPayload(a.events) })),
  );
  let rows: (AppendedRow & { out_index: number })[];
  try {
    // Raw SQL: a set-returning function in FROM, which kysely's builder has no typed form for.
    const result = await sql<AppendedRow & { out_index: number }>`
      SELECT out_index, out_global_position AS global_position, out_stream_version AS stream_version,
             out_outbox_id AS outbox_id, out_recorded_at AS recorded_at
      FROM shoal_append_to_streams(${payload}::jsonb)`.execute(executor);
    rows = result.rows;
  } catch (err) {
    const pg = err as PgErrorLike;
    if (pg?.code === "SH409") {
      const a = appends[Number(pg.detail)];
      const wanted = a?.expectedVersion === "no-stream" ? "no stream" : `version ${String(a?.expectedVersion)}`;
      throw new AbortedError(`stream ${a?.streamId ?? "?"} is not at the expected ${wanted}`, { cause: err });
    }
    throw translateAppendError(err, appends.map((a) => a.streamId).join(", "));
  }
  return appends.map((a, i) => appendedFrom(a.streamId, a.events, rows.filter((r) => r.out_index === i)));
}

async function appendToStream(
  executor: Kysely<EventStoreDatabase>,
  streamId: string,
  expectedVersion: ExpectedVersion,
  events: readonly NewEvent[],
): Promise<Appended> {
  validateAppend(streamId, expectedVersion, events);
  const payload = JSON.stringify(eventsPayload(events));

  // The stream row is the version check (see migrations/0005-append-function): it is created,
  // or bumped only when at the expected version. A concurrent appender blocks on the row and
  // then re-checks, so exactly one wins; the loser gets no rows back, not an exception.
  const expected = expectedArgument(expectedVersion);
  let rows: AppendedRow[];
  try {
    // Raw SQL: a set-returning function in FROM, which kysely's builder has no typed form for.
    const result = await sql<AppendedRow>`
      SELECT out_global_position AS global_position, out_stream_version AS stream_version,
             out_outbox_id AS outbox_id, out_recorded_at AS recorded_at
      FROM shoal_append_events(${streamId}, ${expected}::integer, ${payload}::jsonb)`.execute(executor);
    rows = result.rows;
  } catch (err) {
    throw translateAppendError(err, streamId);
  }

  if (rows.length === 0) {
    const current = await currentVersion(executor, streamId);
    const wanted = expectedVersion === "no-stream" ? "no stream" : `version ${expectedVersion}`;
    throw new AbortedError(`stream ${streamId} expected ${wanted} but is at version ${current}`);
  }
  return appendedFrom(streamId, events, rows);
}

/** An append's result and eager-publish messages from the rows the append function returned. */
function appendedFrom(streamId: string, events: readonly NewEvent[], rows: readonly AppendedRow[]): Appended {
  if (rows.length !== events.length) {
    throw new InternalError(`append to stream ${streamId} wrote ${rows.length} of ${events.length} events`);
  }
  return {
    nextVersion: rows[rows.length - 1]!.stream_version,
    globalPositions: rows.map((r) => BigInt(r.global_position)),
    outboxId: String(rows[0]!.outbox_id),
    messages: rows.map((r, i) => ({
      eventId: events[i]!.eventId,
      streamId,
      streamVersion: r.stream_version,
      globalPosition: BigInt(r.global_position),
      type: events[i]!.type,
      schemaVersion: events[i]!.schemaVersion,
      // As given: the publisher serialises them to JSON, as the relay's copies read from jsonb.
      data: events[i]!.data ?? null,
      metadata: events[i]!.metadata ?? {},
      recordedAt: r.recorded_at,
    })),
  };
}

interface AppendedRow {
  global_position: string;
  stream_version: number;
  outbox_id: string;
  recorded_at: Date;
}

async function currentVersion(executor: Kysely<EventStoreDatabase>, streamId: string): Promise<number> {
  try {
    const row = await executor.selectFrom("streams").select("version").where("stream_id", "=", streamId).executeTakeFirst();
    return row?.version ?? 0;
  } catch (err) {
    throw translateError(err, `reading the version of stream ${streamId}`);
  }
}

interface PgErrorLike {
  code?: string;
  constraint?: string;
  detail?: string;
}

function translateAppendError(err: unknown, streamId: string): Error {
  const pg = err as PgErrorLike;
  if (pg?.code === "23505" && pg.constraint === "events_event_id_key") {
    return new AlreadyExistsError(`an event being appended to stream ${streamId} is already recorded (${pg.detail ?? ""})`, {
      cause: err,
    });
  }
  if (pg?.code === "23505") {
    // Unreachable while every writer goes through the stream row, kept as the backstop.
    return new AbortedError(`stream ${streamId} was appended to concurrently`, { cause: err });
  }
  if (pg?.code === "22P02" || pg?.code === "22P05" || pg?.code === "22023") {
    return new InvalidArgumentError(`events for stream ${streamId} are not valid: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return translateError(err, `appending to stream ${streamId}`);
}

const unavailableErrnos = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND", "EPIPE"]);

/** Maps a driver error to the domain taxonomy; ShoalErrors pass through unchanged. */
export function translateError(err: unknown, doing: string): Error {
  if (err instanceof ShoalError) return err;
  const code = (err as PgErrorLike & { errno?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (
    (typeof code === "string" && (code.startsWith("08") || code === "57P01" || code === "57P03" || unavailableErrnos.has(code))) ||
    /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message)
  ) {
    return new UnavailableError(`PostgreSQL unavailable while ${doing}: ${message}`, { cause: err });
  }
  return new InternalError(`failed ${doing}: ${message}`, { cause: err });
}

/** The columns an event is read with. */
const eventColumns = [
  "global_position",
  "stream_id",
  "stream_version",
  "event_id",
  "type",
  "schema_version",
  "data",
  "metadata",
  "recorded_at",
] as const;

type EventRow = Pick<Selectable<EventsTable>, (typeof eventColumns)[number]>;

function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    eventId: row.event_id,
    type: row.type,
    schemaVersion: row.schema_version,
    data: row.data,
    metadata: row.metadata,
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    globalPosition: BigInt(row.global_position),
    recordedAt: row.recorded_at,
  };
}

async function readStream(
  executor: Kysely<EventStoreDatabase>,
  streamId: string,
  opts: Omit<ReadStreamOptions, "trx">,
): Promise<RecordedEvent[]> {
  const fromVersion = opts.fromVersion ?? 1;
  if (!Number.isSafeInteger(fromVersion) || fromVersion < 1) {
    throw new InvalidArgumentError("fromVersion must be an integer >= 1");
  }
  if (opts.limit !== undefined && !(Number.isSafeInteger(opts.limit) && opts.limit >= 1)) {
    throw new InvalidArgumentError("limit must be a positive integer");
  }
  try {
    const limit = opts.limit;
    const rows = await executor
      .selectFrom("events")
      .select(eventColumns)
      .where("stream_id", "=", streamId)
      .where("stream_version", ">=", fromVersion)
      .orderBy("stream_version")
      .$if(limit !== undefined, (q) => q.limit(limit!))
      .execute();
    return rows.map(toRecordedEvent);
  } catch (err) {
    throw translateError(err, `reading stream ${streamId}`);
  }
}

async function readStreams(
  executor: Kysely<EventStoreDatabase>,
  streams: readonly { streamId: string; fromVersion?: number }[],
): Promise<Map<string, RecordedEvent[]>> {
  const out = new Map<string, RecordedEvent[]>();
  for (const s of streams) {
    if (typeof s.streamId !== "string" || s.streamId.length === 0) throw new InvalidArgumentError("stream id must be a non-empty string");
    const from = s.fromVersion ?? 1;
    if (!Number.isSafeInteger(from) || from < 1) throw new InvalidArgumentError("fromVersion must be an integer >= 1");
    out.set(s.streamId, []);
  }
  if (streams.length === 0) return out;
  try {
    // Raw SQL: the streams come in as `unnest` of two arrays joined to `events` (one plan
    // whatever their number); kysely's builder has no typed form for a column-aliased
    // set-returning function in FROM.
    const result = await sql<EventRow>`
      SELECT e.global_position, e.stream_id, e.stream_version, e.event_id, e.type, e.schema_version, e.data, e.metadata, e.recorded_at
      FROM unnest(${streams.map((s) => s.streamId)}::text[], ${streams.map((s) => s.fromVersion ?? 1)}::integer[]) AS r(stream_id, from_version)
      JOIN events e ON e.stream_id = r.stream_id AND e.stream_version >= r.from_version
      ORDER BY e.stream_id, e.stream_version`.execute(executor);
    for (const row of result.rows) out.get(row.stream_id)!.push(toRecordedEvent(row));
    return out;
  } catch (err) {
    throw translateError(err, `reading streams ${streams.map((s) => s.streamId).join(", ")}`);
  }
}

/**
 * readAll on a given executor. Must not run in a transaction that already has a transaction id
 * (has written or locked rows): its own id would hold the release horizon back.
 */
export async function readAllWith(executor: Kysely<EventStoreDatabase>, opts: ReadAllOptions): Promise<ReadAllResult> {
  if (!Number.isSafeInteger(opts.limit) || opts.limit < 1 || opts.limit > 10_000) {
    throw new InvalidArgumentError("readAll limit must be an integer in 1..10000");
  }
  const after = decodeGlobalCursor(opts.after);
  // The horizon is the oldest transaction still running that may belong to this database.
  // Every event below it is committed or gone for good; an event at or above it may still be
  // joined by an earlier-ordered one. Transactions of the snapshot that pg_stat_activity (read
  // just after it) shows running in ANOTHER database can never write here and are skipped, so
  // other databases on the server do not hold readers back. Anything unproven counts as ours.
  type Row = Partial<EventRow> & { transaction_id: string | null; withheld: boolean };
  let rows: Row[];
  try {
    // Raw SQL: MATERIALIZED CTEs over snapshot functions, row-value comparisons with xid8
    // casts and a LEFT JOIN onto a one-row CTE; the builder would only wrap the same text.
    const result = await sql<Row>`
      WITH snap AS MATERIALIZED (
        SELECT pg_current_snapshot() AS s
      ), foreign_xids AS MATERIALIZED (
        SELECT backend_xid::text::bigint AS xid32 FROM pg_stat_activity
        WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database()
        UNION ALL
        SELECT transaction::text::bigint FROM pg_prepared_xacts WHERE database <> current_database()
      ), horizon AS MATERIALIZED (
        SELECT COALESCE(
          (SELECT min(x) FROM pg_snapshot_xip(snap.s) AS x
           WHERE (x::text::numeric % 4294967296)::bigint NOT IN (SELECT xid32 FROM foreign_xids)),
          pg_snapshot_xmax(snap.s)
        ) AS xmin
        FROM snap
      ), released AS (
        SELECT e.global_position, e.stream_id, e.stream_version, e.event_id, e.type, e.schema_version,
               e.data, e.metadata, e.recorded_at, e.transaction_id
        FROM events e, horizon h
        WHERE (e.transaction_id, e.global_position) > (${after.transactionId.toString()}::xid8, ${after.globalPosition.toString()}::bigint)
          AND e.transaction_id < h.xmin
        ORDER BY e.transaction_id, e.global_position
        LIMIT ${opts.limit}
      )
      SELECT r.global_position, r.stream_id, r.stream_version, r.event_id, r.type, r.schema_version,
             r.data, r.metadata, r.recorded_at, r.transaction_id::text AS transaction_id,
             EXISTS (SELECT 1 FROM events w, horizon h WHERE w.transaction_id >= h.xmin) AS withheld
      FROM horizon LEFT JOIN released r ON true
      ORDER BY r.transaction_id, r.global_position`.execute(executor);
    rows = result.rows;
  } catch (err) {
    throw translateError(err, "reading the global event order");
  }
  const withheld = rows[0]?.withheld ?? false;
  const events: GlobalEvent[] = [];
  for (const row of rows) {
    if (row.transaction_id === null) continue;
    const recorded = toRecordedEvent(row as EventRow);
    events.push({
      ...recorded,
      cursor: encodeGlobalCursor({ transactionId: BigInt(row.transaction_id), globalPosition: recorded.globalPosition }),
    });
  }
  const last = events[events.length - 1];
  return { events, cursor: last ? last.cursor : opts.after, withheld };
}
