/**
 * The output of `--rm` containers, kept briefly after their removal so an attached client
 * that fetches it after the exit (the removal races that fetch) still gets all of it.
 */
import type { Kysely } from "kysely";
import { sql } from "kysely";
import type { ApiDatabase } from "./api-database";

/** How long a removed container's output stays readable. */
export const REMOVED_OUTPUT_RETENTION_MS = 10 * 60_000;
/** At most this much of a removed container's output is kept (its end). */
export const REMOVED_OUTPUT_MAX_BYTES = 4 * 1024 * 1024;

/**
 * The oldest `saved_at` still kept, on the database's clock (the one `saved_at` was set with).
 * Raw SQL: interval arithmetic, which the builder has no form for.
 */
function retentionStart() {
  return sql<Date>`now() - make_interval(secs => ${REMOVED_OUTPUT_RETENTION_MS / 1000})`;
}

/** Saves (or replaces) `output` for `containerId` and prunes what is past retention. */
export async function saveRemovedOutput(db: Kysely<ApiDatabase>, containerId: string, output: Buffer): Promise<void> {
  const kept = output.length > REMOVED_OUTPUT_MAX_BYTES ? output.subarray(output.length - REMOVED_OUTPUT_MAX_BYTES) : output;
  await db
    .insertInto("removed_container_output")
    .values({ container_id: containerId, output: kept })
    .onConflict((oc) => oc.column("container_id").doUpdateSet({ output: kept, saved_at: sql`now()` }))
    .execute();
  await db
    .deleteFrom("removed_container_output")
    .where("saved_at", "<", retentionStart())
    .execute();
}

/** The saved output of a removed container, by full id; undefined when none is kept. */
export async function readRemovedOutput(db: Kysely<ApiDatabase>, containerId: string): Promise<Buffer | undefined> {
  const row = await db
    .selectFrom("removed_container_output")
    .select("output")
    .where("container_id", "=", containerId)
    .where("saved_at", ">=", retentionStart())
    .executeTakeFirst();
  return row === undefined ? undefined : Buffer.from(row.output);
}

/** The last `lines` lines of `output` (all of it for 0). */
export function lastLines(output: Buffer, lines: number): Buffer {
  if (lines <= 0) return output;
  let end = output.length;
  if (end > 0 && output[end - 1] === 0x0a) end--;
  let seen = 0;
  for (let i = end - 1; i >= 0; i--) {
    if (output[i] === 0x0a && ++seen === lines) return output.subarray(i + 1);
  }
  return output;
}
