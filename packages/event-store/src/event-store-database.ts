/**
 * The event store's tables as kysely sees them (migrations 0001–0009 are the truth for the
 * columns): `streams`, `events`, `outbox`, `projection_checkpoints`, `processed_events`.
 * A service whose database also holds its own tables describes them in an interface that
 * extends `EventStoreDatabase`, and hands its `Kysely<ThatDatabase>` to the store's functions.
 *
 * Column conventions for every owner (what node-postgres returns, what it accepts):
 * `bigint`/`bigserial` read as decimal strings (`Int8Column`), `timestamptz` as Dates
 * (`TimestampColumn`), `jsonb` as the parsed value and written as JSON text (`JsonColumn`),
 * `xid8` as a decimal string.
 */
import type { ColumnType, Generated, Kysely, Transaction } from "kysely";

/**
 * A `jsonb` column holding `T`: reads as the parsed value; written as JSON text
 * (`JSON.stringify(value)`), since node-postgres would send a JS array as a Postgres array.
 */
export type JsonColumn<T> = ColumnType<T, string, string>;

/** A `bigint` column: read as a decimal string (no precision lost); written as a number, bigint or decimal string. */
export type Int8Column = ColumnType<string, string | number | bigint, string | number | bigint>;

/** A `timestamptz` column: read as a Date; written as a Date or an ISO-8601 string. */
export type TimestampColumn = ColumnType<Date, Date | string, Date | string>;

/**
 * A column with a database default (optional on insert) of a column type above, e.g.
 * `Defaulted<TimestampColumn>` for `DEFAULT now()`. kysely's `Generated` for plain types.
 */
export type Defaulted<C> = C extends ColumnType<infer S, infer I, infer U> ? ColumnType<S, I | undefined, U> : never;

/** A nullable column of a column type above (NULL when not set; optional on insert), e.g. `Nullable<JsonColumn<IpcPlan>>`. */
export type Nullable<C> = C extends ColumnType<infer S, infer I, infer U> ? ColumnType<S | null, I | null | undefined, U | null> : never;

/** One row per stream: its version, which every append checks and bumps (0001). */
export interface StreamsTable {
  stream_id: string;
  version: number;
}

/** The log (0001, 0006): appended only by `shoal_append_events`. */
export interface EventsTable {
  /** A sequence value at insert time: unique and increasing, not commit order. */
  global_position: Defaulted<Int8Column>;
  stream_id: string;
  stream_version: number;
  /** A UUID; unique. */
  event_id: string;
  type: string;
  schema_version: number;
  data: JsonColumn<unknown>;
  metadata: Defaulted<JsonColumn<Record<string, unknown>>>;
  recorded_at: Defaulted<TimestampColumn>;
  /** `xid8`, `pg_current_xact_id()` of the appending transaction, as a decimal string. */
  transaction_id: Generated<string>;
}

/** One row per append (0002, 0007): the stream's version range and how far it is published. */
export interface OutboxTable {
  id: Defaulted<Int8Column>;
  stream_id: string;
  from_version: number;
  to_version: number;
  /** Highest version of the range published so far (`from_version - 1`: none). */
  sent_through_version: number;
  created_at: Defaulted<TimestampColumn>;
  /** Set once the whole range is published. */
  sent_at: Nullable<TimestampColumn>;
}

/** Where each projection is in the global order (0003): the cursor of the last event it applied. */
export interface ProjectionCheckpointsTable {
  name: string;
  /** `xid8` as a decimal string; default `'0'`. */
  transaction_id: ColumnType<string, string | undefined, string>;
  global_position: Defaulted<Int8Column>;
  updated_at: Defaulted<TimestampColumn>;
}

/** The events each idempotent consumer has handled (0004). */
export interface ProcessedEventsTable {
  consumer: string;
  /** A UUID. */
  event_id: string;
  processed_at: Defaulted<TimestampColumn>;
}

export interface EventStoreDatabase {
  streams: StreamsTable;
  events: EventsTable;
  outbox: OutboxTable;
  projection_checkpoints: ProjectionCheckpointsTable;
  processed_events: ProcessedEventsTable;
}

/**
 * Where the store's reads and appends run: a Kysely over a database holding the event
 * store's tables, or a transaction of one. (`Transaction` is named so that `DB` is inferred
 * from a transaction too; it is a `Kysely<DB>` all the same.)
 */
export type KyselyOrTransaction<DB extends EventStoreDatabase> = Kysely<DB> | Transaction<DB>;

/**
 * `db` (or a transaction of it) seen as a Kysely over the event store's tables alone. Sound:
 * a database that has these tables and more answers every query written against these
 * alone. kysely's `DB` parameter is invariant only because of methods that add tables
 * (`withTables`, `with`), so a `Kysely<ApiDatabase>` is not assignable to
 * `Kysely<EventStoreDatabase>` without this step. The one place where that widening is made.
 */
export function eventStoreTables<DB extends EventStoreDatabase>(db: Kysely<DB>): Kysely<EventStoreDatabase> {
  return db as unknown as Kysely<EventStoreDatabase>;
}
