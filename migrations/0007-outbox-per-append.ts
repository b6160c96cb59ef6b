import { sql } from "kysely";
import type { Kysely } from "kysely";
import * as appendFunction0005 from "./0005-append-function";

/**
 * One outbox row per append instead of one per event: the row names the append's stream and
 * its version range [from_version, to_version]; the relay reads the events by (stream_id,
 * stream_version). `sent_through_version` is the highest version of the range published so far
 * (from_version - 1: none), so a batch may stop inside an append and a failed publish keeps the
 * rest of the range unsent; `sent_at` is set once the whole range is published.
 *
 * Existing rows become one-event ranges. `shoal_append_events` keeps its signature and result
 * and now writes the single row.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE outbox
      ADD COLUMN from_version integer,
      ADD COLUMN to_version integer,
      ADD COLUMN sent_through_version integer`.execute(db);
  await sql`
    UPDATE outbox o
    SET from_version = e.stream_version, to_version = e.stream_version,
        sent_through_version = CASE WHEN o.sent_at IS NULL THEN e.stream_version - 1 ELSE e.stream_version END
    FROM events e WHERE e.global_position = o.global_position`.execute(db);
  await sql`
    ALTER TABLE outbox
      ALTER COLUMN from_version SET NOT NULL,
      ALTER COLUMN to_version SET NOT NULL,
      ALTER COLUMN sent_through_version SET NOT NULL,
      ADD CONSTRAINT outbox_versions CHECK (1 <= from_version AND from_version <= to_version
        AND from_version - 1 <= sent_through_version AND sent_through_version <= to_version),
      DROP COLUMN event_id,
      DROP COLUMN global_position,
      DROP COLUMN type`.execute(db);
  await sql`
    CREATE OR REPLACE FUNCTION shoal_append_events(p_stream_id text, p_expected integer, p_events jsonb)
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
      INSERT INTO outbox (stream_id, from_version, to_version, sent_through_version)
      VALUES (p_stream_id, new_version - k + 1, new_version, new_version - k);
      RETURN QUERY
        WITH inserted AS (
          INSERT INTO events AS e (stream_id, stream_version, event_id, type, schema_version, data, metadata)
          SELECT p_stream_id, new_version - k + i.ord::integer, (i.ev->>'eventId')::uuid, i.ev->>'type',
                 (i.ev->>'schemaVersion')::integer, COALESCE(i.ev->'data', 'null'::jsonb), COALESCE(i.ev->'metadata', '{}'::jsonb)
          FROM jsonb_array_elements(p_events) WITH ORDINALITY AS i(ev, ord)
          ORDER BY i.ord
          RETURNING e.global_position, e.stream_version
        )
        SELECT n.global_position, n.stream_version FROM inserted n ORDER BY n.stream_version;
      PERFORM pg_notify('shoal_outbox', '');
    END
    $fn$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION shoal_append_events(text, integer, jsonb)`.execute(db);
  await sql`
    ALTER TABLE outbox
      DROP CONSTRAINT outbox_versions,
      ADD COLUMN event_id uuid,
      ADD COLUMN global_position bigint,
      ADD COLUMN type text`.execute(db);
  // Each range back into one row per event; a partly sent range keeps its sent part as sent.
  await sql`
    INSERT INTO outbox (event_id, global_position, stream_id, type, created_at, sent_at, from_version, to_version, sent_through_version)
    SELECT e.event_id, e.global_position, e.stream_id, e.type, o.created_at,
           CASE WHEN e.stream_version <= o.sent_through_version THEN COALESCE(o.sent_at, now()) END, 0, 0, 0
    FROM outbox o JOIN events e ON e.stream_id = o.stream_id AND e.stream_version BETWEEN o.from_version AND o.to_version
    ORDER BY o.id, e.stream_version`.execute(db);
  await sql`DELETE FROM outbox WHERE event_id IS NULL`.execute(db);
  await sql`
    ALTER TABLE outbox
      ALTER COLUMN event_id SET NOT NULL,
      ALTER COLUMN global_position SET NOT NULL,
      ALTER COLUMN type SET NOT NULL,
      DROP COLUMN from_version,
      DROP COLUMN to_version,
      DROP COLUMN sent_through_version`.execute(db);
  await appendFunction0005.up(db);
}
