/**
 * One active scheduler per database: a session-level Postgres advisory lock held on a
 * dedicated connection for the process's life. A second scheduler waits for it (standby)
 * and becomes active when the first one's session ends — a clean stop, a crash, kill -9
 * (the kernel closes the socket; Postgres ends the session and frees the lock at once).
 *
 * The lock is what lets the active scheduler plan from memory (capacity-view.ts): no other
 * process places against the same hosts while it holds it. So losing it is fatal: from the
 * moment the connection fails, `assertHeld` throws and `onLost` is called once; the caller
 * must stop placing and exit, so a supervisor restarts it as a standby.
 *
 * The key is the one placements were serialised with before (per transaction), so a
 * scheduler of that older kind cannot place while this one is active.
 */
import pg from "pg";
import { UnavailableError } from "@shoal/domain";
import type { Logger } from "@shoal/event-store";

/** "SHSC", 0: the scheduling lock. */
const LOCK_CLASS = 0x53485343;
const LOCK_OBJECT = 0;

/** Shown in pg_stat_activity for the lock's connection. */
export const ACTIVE_LOCK_APPLICATION_NAME = "shoal-scheduler-active";

export interface ActiveLock {
  /** Throws UnavailableError once the lock's connection has failed (and after `release`). */
  assertHeld(): void;
  /** Ends the session, which frees the lock. Idempotent; `onLost` is not called for it. */
  release(): Promise<void>;
}

/**
 * Resolves once this process holds the lock, waiting as long as another scheduler holds
 * it (logged when the wait begins and when it ends). Rejects with UnavailableError when
 * Postgres cannot be reached, when the connection fails while waiting, or when `signal`
 * aborts the wait.
 */
export async function acquireActiveLock(opts: {
  databaseUrl: string;
  logger: Logger;
  /** Called once when the connection fails after the lock was taken. */
  onLost: (err: Error) => void;
  signal?: AbortSignal;
}): Promise<ActiveLock> {
  const { logger, signal } = opts;
  const client = new pg.Client({
    connectionString: opts.databaseUrl,
    application_name: ACTIVE_LOCK_APPLICATION_NAME,
    keepAlive: true,
  });
  let state: "acquiring" | "held" | "lost" | "released" = "acquiring";
  let lostError: Error | undefined;
  const fail = (err: Error) => {
    if (state !== "held") return;
    state = "lost";
    lostError = err;
    logger.error({ err }, "lost the active-scheduler lock's connection: placing stops");
    opts.onLost(err);
  };
  // Without listeners a failing idle client would crash the process.
  client.on("error", (err) => fail(err));
  client.on("end", () => fail(new Error("the active-scheduler lock's connection closed")));

  const abandon = () => void client.end().catch(() => undefined);
  if (signal?.aborted) throw new UnavailableError("scheduler stopped before taking the active-scheduler lock");
  signal?.addEventListener("abort", abandon, { once: true });
  try {
    await client.connect();
    const tried = await client.query<{ held: boolean }>("SELECT pg_try_advisory_lock($1::int, $2::int) AS held", [LOCK_CLASS, LOCK_OBJECT]);
    if (!tried.rows[0]?.held) {
      logger.info({}, "another scheduler is active: standing by until its lock is freed");
      const began = Date.now();
      await client.query("SELECT pg_advisory_lock($1::int, $2::int)", [LOCK_CLASS, LOCK_OBJECT]);
      logger.info({ waitedMs: Date.now() - began }, "the active scheduler's lock was freed: taking over");
    }
  } catch (err) {
    abandon();
    if (signal?.aborted) throw new UnavailableError("scheduler stopped while standing by for the active-scheduler lock", { cause: err });
    throw new UnavailableError(`could not take the active-scheduler lock (${(err as Error).message})`, { cause: err });
  } finally {
    signal?.removeEventListener("abort", abandon);
  }
  state = "held";
  logger.info({}, "active scheduler: holding the scheduling lock");

  return {
    assertHeld() {
      if (state === "held") return;
      throw new UnavailableError(
        state === "lost" ? "this scheduler lost its active-scheduler lock; it must not place" : "this scheduler has stopped",
        lostError === undefined ? undefined : { cause: lostError },
      );
    },
    async release() {
      if (state === "released") return;
      state = "released";
      await client.end().catch(() => undefined);
    },
  };
}
