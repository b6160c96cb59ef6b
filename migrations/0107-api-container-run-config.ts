import { sql } from "kysely";
import type { Kysely } from "kysely";

/**
 * `containers.run` and `containers.cwd`: the merged config (entrypoint, cmd, user, stop
 * signal) and working directory ContainerCreated records, for inspect's Config. Rows
 * created before have neither (null): inspect shows the args as the command.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE containers ADD COLUMN run jsonb, ADD COLUMN cwd text`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE containers DROP COLUMN run, DROP COLUMN cwd`.execute(db);
}
