import { Migrator } from "kysely";
import type { Kysely } from "kysely";
import { InternalError } from "@shoal/domain";
import { migrations } from "../../../migrations/index";

/**
 * Brings the database schema to the latest migration in `migrations/`. Safe to run
 * concurrently and repeatedly (kysely's Migrator takes a lock and skips applied migrations).
 * Throws InternalError naming the migration that failed, with the database error as cause;
 * migrations before it stay applied, the failed one is rolled back.
 */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<void> {
  // Unordered: each owner numbers its migrations in its own range (the store 0001-0099, services
  // 0100+) and depends only on its own earlier ones, so a store migration added after a service's
  // was applied must still run on that database.
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    allowUnorderedMigrations: true,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error === undefined) return;
  const failed = results?.find((r) => r.status === "Error");
  const name = failed ? `migration ${failed.migrationName}` : "migrations";
  const message = error instanceof Error ? error.message : String(error);
  throw new InternalError(`${name} failed: ${message}`, { cause: error });
}
