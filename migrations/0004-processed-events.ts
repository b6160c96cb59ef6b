import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * Idempotent consumers record each event id they have handled, in the same transaction as the
 * handling, so a redelivery is recognised and changes nothing.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE processed_events (
      consumer text NOT NULL,
      event_id uuid NOT NULL,
      processed_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (consumer, event_id)
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE processed_events`.execute(db);
}
