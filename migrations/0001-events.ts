import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * The event log and the per-stream version row that appends check and bump.
 *
 * `transaction_id` is the top-level id of the writing transaction. Global readers order by
 * (transaction_id, global_position) and only release events whose transaction id is below the
 * oldest still-running transaction, because global_position (a sequence) is assigned at
 * insert time and is not commit order.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE streams (
      stream_id text PRIMARY KEY,
      version integer NOT NULL CHECK (version >= 0)
    )`.execute(db);
  await sql`
    CREATE TABLE events (
      global_position bigserial PRIMARY KEY,
      stream_id text NOT NULL,
      stream_version integer NOT NULL CHECK (stream_version >= 1),
      event_id uuid NOT NULL UNIQUE,
      type text NOT NULL,
      schema_version integer NOT NULL,
      data jsonb NOT NULL,
      metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
      recorded_at timestamptz NOT NULL DEFAULT now(),
      transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
      CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
    )`.execute(db);
  await sql`CREATE INDEX events_transaction_order ON events (transaction_id, global_position)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE events`.execute(db);
  await sql`DROP TABLE streams`.execute(db);
}
