import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * The events' primary key becomes (transaction_id, global_position): the release order that
 * readAll walks, which already had its own index. That drops one index write per appended event
 * (the former primary key on global_position alone, which no query uses any more: the relay
 * finds events by (stream_id, stream_version)). global_position stays unique: it is only ever
 * assigned by its own sequence, per event.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE events DROP CONSTRAINT events_pkey`.execute(db);
  await sql`DROP INDEX events_transaction_order`.execute(db);
  await sql`ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (transaction_id, global_position)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE events DROP CONSTRAINT events_pkey`.execute(db);
  await sql`ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (global_position)`.execute(db);
  await sql`CREATE INDEX events_transaction_order ON events (transaction_id, global_position)`.execute(db);
}
