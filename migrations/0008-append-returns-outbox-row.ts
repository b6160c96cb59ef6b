import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * `shoal_append_events` also returns the append's outbox row id and the events' `recorded_at`,
 * so the appending process can publish what it just committed at once (the "eager publish")
 * and mark that outbox row sent, without reading anything back. Same arguments and the same
 * single round trip; the relay stays the safety net for anything not published this way.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION shoal_append_events(text, integer, jsonb)`.execute(db);
  await appendFunction(true).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION shoal_append_events(text, integer, jsonb)`.execute(db);
  await appendFunction(false).execute(db);
}

/** The append function; `withOutboxRow`: this migration's result columns, else 0007's. */
function appendFunction(withOutboxRow: boolean) {
  const result = withOutboxRow
    ? sql`out_global_position bigint, out_stream_version integer, out_outbox_id bigint, out_recorded_at timestamptz`
    : sql`out_global_position bigint, out_stream_version integer`;
  const returned = withOutboxRow ? sql`e.global_position, e.stream_version, e.recorded_at` : sql`e.global_position, e.stream_version`;
  const selected = withOutboxRow
    ? sql`n.global_position, n.stream_version, new_outbox_id, n.recorded_at`
    : sql`n.global_position, n.stream_version`;
  return sql`
    CREATE FUNCTION shoal_append_events(p_stream_id text, p_expected integer, p_events jsonb)
    RETURNS TABLE (${result})
    LANGUAGE plpgsql AS $fn$
    DECLARE
      k integer := jsonb_array_length(p_events);
      new_version integer;
      new_outbox_id bigint;
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
      INSERT INTO outbox (stream_id, from_version, to_version, sent_through_version)
      VALUES (p_stream_id, new_version - k + 1, new_version, new_version - k)
      RETURNING id INTO new_outbox_id;
      RETURN QUERY
        WITH inserted AS (
          INSERT INTO events AS e (stream_id, stream_version, event_id, type, schema_version, data, metadata)
          SELECT p_stream_id, new_version - k + i.ord::integer, (i.ev->>'eventId')::uuid, i.ev->>'type',
                 (i.ev->>'schemaVersion')::integer, COALESCE(i.ev->'data', 'null'::jsonb), COALESCE(i.ev->'metadata', '{}'::jsonb)
          FROM jsonb_array_elements(p_events) WITH ORDINALITY AS i(ev, ord)
          ORDER BY i.ord
          RETURNING ${returned}
        )
        SELECT ${selected} FROM inserted n ORDER BY n.stream_version;
      PERFORM pg_notify('shoal_outbox', '');
    END
    $fn$`;
}
