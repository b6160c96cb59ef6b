import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * `shoal_append_events(stream_id, expected, events)`: the append as one server-side function, so
 * a call is a short statement whose inner plans PL/pgSQL caches per connection (an inline CTE
 * was re-parsed and re-planned on every append, which dominated a one-event append).
 *
 * expected: -1 = any, 0 = the stream must not exist, N > 0 = the stream must be at version N.
 * events: a non-empty jsonb array of {eventId, type, schemaVersion, data, metadata}.
 * Returns one row per event (global_position, stream_version) in order, or NO rows when the
 * version check fails — it never raises for a conflict, so a caller's transaction stays usable.
 * Writes the stream row, the events, one outbox row per event and a NOTIFY on shoal_outbox.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION shoal_append_events(p_stream_id text, p_expected integer, p_events jsonb)
    RETURNS TABLE (out_global_position bigint, out_stream_version integer)
    LANGUAGE plpgsql AS $fn$
    DECLARE
      k integer := jsonb_array_length(p_events);
      new_version integer;
    BEGIN
      IF p_expected < 0 THEN
        INSERT INTO streams AS s (stream_id, version) VALUES (p_stream_id, k)
        ON CONFLICT (stream_id) DO UPDATE SET version = s.version + k
        RETURNING s.version INTO new_version;
      ELSIF p_expected = 0 THEN
        INSERT INTO streams AS s (stream_id, version) VALUES (p_stream_id, k)
        ON CONFLICT (stream_id) DO NOTHING
        RETURNING s.version INTO new_version;
      ELSE
        UPDATE streams AS s SET version = s.version + k
        WHERE s.stream_id = p_stream_id AND s.version = p_expected
        RETURNING s.version INTO new_version;
      END IF;
      IF new_version IS NULL THEN
        RETURN;
      END IF;
      RETURN QUERY
        WITH inserted AS (
          INSERT INTO events AS e (stream_id, stream_version, event_id, type, schema_version, data, metadata)
          SELECT p_stream_id, new_version - k + i.ord::integer, (i.ev->>'eventId')::uuid, i.ev->>'type',
                 (i.ev->>'schemaVersion')::integer, COALESCE(i.ev->'data', 'null'::jsonb), COALESCE(i.ev->'metadata', '{}'::jsonb)
          FROM jsonb_array_elements(p_events) WITH ORDINALITY AS i(ev, ord)
          ORDER BY i.ord
          RETURNING e.global_position, e.stream_version, e.event_id, e.type
        ), outboxed AS (
          INSERT INTO outbox (event_id, global_position, stream_id, type)
          SELECT n.event_id, n.global_position, p_stream_id, n.type FROM inserted n ORDER BY n.global_position
        )
        SELECT n.global_position, n.stream_version FROM inserted n ORDER BY n.stream_version;
      PERFORM pg_notify('shoal_outbox', '');
    END
    $fn$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION shoal_append_events(text, integer, jsonb)`.execute(db);
}
