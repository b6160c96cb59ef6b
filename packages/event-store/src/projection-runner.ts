import { sql } from "kysely";
import type { Kysely, Transaction } from "kysely";
import type pg from "pg";
import { InternalError, InvalidArgumentError, ShoalError } from "@shoal/domain";
import { readAllWith, translateError } from "./event-store";
import { eventStoreTables } from "./event-store-database";
import type { EventStoreDatabase } from "./event-store-database";
import type { GlobalEvent } from "./event-store";
import { decodeGlobalCursor, encodeGlobalCursor, globalCursorStart } from "./global-cursor";
import type { GlobalCursor } from "./global-cursor";
import { createNotifiedLoop } from "./notified-loop";
import { silentLogger } from "./logger";
import type { Logger } from "./logger";

export interface ProjectionRunnerOptions<DB extends EventStoreDatabase = EventStoreDatabase> {
  /** Unique projection name; the key of its checkpoint row. */
  name: string;
  /** A database holding the event store's tables and the projection's own (`DB` describes both). */
  db: Kysely<DB>;
  /** Pool whose `options` open the LISTEN connection that wakes the live runner. */
  pool: pg.Pool;
  /**
   * Applies one event to the projection's tables. Must write only through `trx`: the batch and
   * the checkpoint commit together, so a crash or a throw never applies an event twice. A throw
   * rolls the whole batch back (and the live runner retries it with backoff).
   */
  handle(event: GlobalEvent, trx: Transaction<DB>): Promise<void>;
  /** Deletes all of the projection's state, through `trx`; used by `rebuild()`. */
  reset(trx: Transaction<DB>): Promise<void>;
  /** Events applied per transaction (default 500). */
  batchSize?: number;
  logger?: Logger;
  /** Safety re-check when no notification arrives (default 30 s). */
  recheckIntervalMs?: number;
  /** Wait this long after a NOTIFY before catching up (default 0); see `createNotifiedLoop`. Readers that need the latest call `catchUp`. */
  settleMs?: number;
}

export interface ProjectionRunner {
  /** Catches up, then follows new events live (woken by NOTIFY). UnavailableError if Postgres is not reachable. */
  start(): Promise<void>;
  /** Finishes the batch in flight and stops following. */
  stop(): Promise<void>;
  /**
   * Applies every released event after the checkpoint; returns how many were applied. Safe to
   * call while the live runner or other processes run the same projection: batches are
   * serialised by a per-name advisory lock and each event is applied once.
   */
  catchUp(): Promise<number>;
  /**
   * Resets the projection (`reset` and the checkpoint, in one transaction), then replays the
   * log from the start; returns how many events were applied. Readers see a partial projection
   * until the replay finishes.
   */
  rebuild(): Promise<number>;
}

/** Advisory lock class for projection batches ("SHOA"); the object id is hashtext(name). */
const projectionLockClass = 0x53484f41;

export function createProjectionRunner<DB extends EventStoreDatabase>(opts: ProjectionRunnerOptions<DB>): ProjectionRunner {
  const { name, db, pool, handle, reset } = opts;
  if (typeof name !== "string" || name.length === 0) throw new InvalidArgumentError("projection name must be non-empty");
  const batchSize = opts.batchSize ?? 500;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new InvalidArgumentError("projection batchSize must be an integer in 1..10000");
  }
  const logger = opts.logger ?? silentLogger;
  const recheckIntervalMs = opts.recheckIntervalMs ?? 30_000;

  // Raw SQL: a bare function call with no table, which the builder only wraps.
  const lock = (trx: Transaction<DB>) =>
    sql`SELECT pg_advisory_xact_lock(${projectionLockClass}::int, hashtext(${name}))`.execute(trx);

  /** One batch in one transaction. Returns how many events it applied and whether more were withheld. */
  const applyBatch = async (): Promise<{ applied: number; withheld: boolean }> => {
    try {
      return await db.transaction().execute(async (trx) => {
        // The advisory lock and the reads below do not assign a transaction id, so this
        // transaction does not hold back the release horizon that readAll waits for.
        await lock(trx);
        const store = eventStoreTables(trx);
        const row = await store
          .selectFrom("projection_checkpoints")
          .select(["transaction_id", "global_position"])
          .where("name", "=", name)
          .executeTakeFirst();
        const after: GlobalCursor = row
          ? encodeGlobalCursor({ transactionId: BigInt(row.transaction_id), globalPosition: BigInt(row.global_position) })
          : globalCursorStart;
        const page = await readAllWith(store, { after, limit: batchSize });
        for (const event of page.events) {
          try {
            await handle(event, trx);
          } catch (err) {
            if (err instanceof ShoalError) throw err;
            throw new InternalError(
              `projection ${name} failed on event ${event.eventId} (${event.type}): ${(err as Error)?.message ?? err}`,
              { cause: err },
            );
          }
        }
        const last = page.events[page.events.length - 1];
        if (last) {
          const { transactionId, globalPosition } = decodeGlobalCursor(last.cursor);
          await store
            .insertInto("projection_checkpoints")
            .values({ name, transaction_id: transactionId.toString(), global_position: globalPosition.toString(), updated_at: sql`now()` })
            .onConflict((oc) =>
              oc.column("name").doUpdateSet((eb) => ({
                transaction_id: eb.ref("excluded.transaction_id"),
                global_position: eb.ref("excluded.global_position"),
                updated_at: sql`now()`,
              })),
            )
            .execute();
        }
        return { applied: page.events.length, withheld: page.withheld };
      });
    } catch (err) {
      throw translateError(err, `applying events to projection ${name}`);
    }
  };

  let lastWithheld = false;
  const catchUp = async (): Promise<number> => {
    let total = 0;
    for (;;) {
      const { applied, withheld } = await applyBatch();
      total += applied;
      lastWithheld = withheld;
      if (applied < batchSize) return total;
    }
  };

  let withheldPolls = 0;
  const live = createNotifiedLoop({
    pool,
    logger,
    failureMessage: "projection batch failed; retrying",
    ...(opts.settleMs !== undefined ? { settleMs: opts.settleMs } : {}),
    logFields: { projection: name },
    async round() {
      await catchUp();
      if (!lastWithheld) {
        withheldPolls = 0;
        return recheckIntervalMs;
      }
      // Committed events wait for an older transaction to end; that end is not notified.
      withheldPolls++;
      return Math.min(1_000, 20 * 2 ** Math.min(withheldPolls, 6));
    },
  });

  return {
    catchUp,
    async rebuild() {
      try {
        await db.transaction().execute(async (trx) => {
          await lock(trx);
          await reset(trx);
          await eventStoreTables(trx).deleteFrom("projection_checkpoints").where("name", "=", name).execute();
        });
      } catch (err) {
        throw translateError(err, `resetting projection ${name}`);
      }
      logger.info({ projection: name }, "projection reset; replaying");
      return catchUp();
    },
    start: () => live.start(),
    stop: () => live.stop(),
  };
}
