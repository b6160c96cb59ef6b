import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * One row per appended event, written in the append's transaction. The message body is not
 * copied: the relay reads it from `events` by global_position, so each event is written once.
 * `sent_at` is set after the publisher accepted the message (at-least-once). No foreign key:
 * the row is written by the same statement as its event, and a per-row FK trigger would slow appends.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE outbox (
      id bigserial PRIMARY KEY,
      event_id uuid NOT NULL,
      global_position bigint NOT NULL,
      stream_id text NOT NULL,
      type text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      sent_at timestamptz NULL
    )`.execute(db);
  await sql`CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE outbox`.execute(db);
}
