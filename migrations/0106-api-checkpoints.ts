import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * The checkpoints projection (`api-checkpoints`): one row per checkpoint a container has,
 * from the checkpoint streams (CheckpointCreated/Imported/Replicated/Removed). Rebuildable
 * from the log: the runner empties it and replays.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE api_checkpoints (
      container_id text NOT NULL,
      name text NOT NULL,
      digest text NOT NULL,
      facts jsonb NOT NULL,
      replicated boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL,
      PRIMARY KEY (container_id, name)
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE api_checkpoints`.execute(db);
}
