import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * `shoal_append_to_streams`: several streams' appends in ONE statement, all or nothing, each
 * through `shoal_append_events` (so each with its version check, outbox row and notification).
 * A stream not at its expected version raises SQLSTATE SH409 (DETAIL: the append's index),
 * which rolls back every append of the statement. It spares a decision that spans streams
 * (an IPC group and its container) the BEGIN and COMMIT round trips of a transaction.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION shoal_append_to_streams(p_appends jsonb)
    RETURNS TABLE (out_index integer, out_global_position bigint, out_stream_version integer, out_outbox_id bigint, out_recorded_at timestamptz)
    LANGUAGE plpgsql AS $fn$
    DECLARE
      a record;
      n integer;
    BEGIN
      FOR a IN
        SELECT (t.ord - 1)::integer AS idx, t.value AS v
        FROM jsonb_array_elements(p_appends) WITH ORDINALITY AS t(value, ord)
        ORDER BY t.ord
      LOOP
        n := 0;
        FOR out_global_position, out_stream_version, out_outbox_id, out_recorded_at IN
          SELECT * FROM shoal_append_events(a.v->>'streamId', (a.v->>'expected')::integer, a.v->'events')
        LOOP
          out_index := a.idx;
          n := n + 1;
          RETURN NEXT;
        END LOOP;
        IF n = 0 THEN
          RAISE EXCEPTION 'stream % is not at the expected version', a.v->>'streamId'
            USING ERRCODE = 'SH409', DETAIL = a.idx::text;
        END IF;
      END LOOP;
    END
    $fn$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION shoal_append_to_streams(jsonb)`.execute(db);
}
