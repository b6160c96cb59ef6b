import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * Where each projection is in the global order: the (transaction_id, global_position) pair of
 * the last event it applied. Updated in the same transaction as the projection's own tables.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE projection_checkpoints (
      name text PRIMARY KEY,
      transaction_id xid8 NOT NULL DEFAULT '0'::xid8,
      global_position bigint NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE projection_checkpoints`.execute(db);
}
