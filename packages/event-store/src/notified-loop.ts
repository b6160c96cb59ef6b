import type pg from "pg";
import { outboxChannel } from "./event-store";
import { listenForNotifications } from "./notification-listener";
import type { NotificationListener } from "./notification-listener";
import type { Logger } from "./logger";

/**
 * The settle the services give their live followers (outbox relay, projections): long enough
 * that a container's whole start pipeline runs before they take the CPU, short enough that a
 * reader without `catchUp` sees little lag.
 */
export const FOLLOWER_SETTLE_MS = 100;

export interface NotifiedLoopOptions {
  /** Pool whose `options` open the dedicated LISTEN connection. */
  pool: pg.Pool;
  logger: Logger;
  /** Logged with a failed round, e.g. "outbox relay failed; retrying". */
  failureMessage: string;
  logFields?: Record<string, unknown>;
  /**
   * One round of work. Resolves with how long to sleep before the next round unless a
   * NOTIFY on `shoal_outbox` arrives first. A throw is logged and the round is retried
   * after a backoff (1 s doubling to 30 s) that notifications do not cut short.
   */
  round(isRunning: () => boolean): Promise<number>;
  /**
   * After a NOTIFY wakes the loop, wait this long (further notifications fold into the same
   * round) before working (default 0). Keeps followers that need not be instant (the relay
   * behind eager publishers, projections read with `catchUp` where freshness matters) off the
   * CPU while a flow's next step runs, and batches their work.
   */
  settleMs?: number;
}

export interface NotifiedLoop {
  /** Starts listening, then runs rounds; resolves once LISTEN is in place (UnavailableError if it cannot be). */
  start(): Promise<void>;
  /** Lets the round in flight finish, then stops listening. */
  stop(): Promise<void>;
}

/**
 * The loop the outbox relay and the projection runner share: work, then sleep until a
 * NOTIFY (sent by every append's transaction on commit) or a timeout, never a busy poll.
 * A notification that arrives during a round makes the next round start at once.
 */
export function createNotifiedLoop(opts: NotifiedLoopOptions): NotifiedLoop {
  let running = false;
  let woken = false;
  let wakeWaiter: (() => void) | undefined;
  let loop: Promise<void> | undefined;
  let listener: NotificationListener | undefined;
  const isRunning = () => running;
  const settleMs = Math.max(0, opts.settleMs ?? 0);

  const wake = (): void => {
    woken = true;
    wakeWaiter?.();
  };

  /** Waits for a wake-up or `ms`; with `ignoreWake`, only for `ms` or stop. */
  const pause = (ms: number, ignoreWake: boolean): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        wakeWaiter = undefined;
        resolve();
      }
      wakeWaiter = () => {
        if (!running || !ignoreWake) done();
      };
    });

  const run = async (): Promise<void> => {
    let failures = 0;
    while (running) {
      if (woken && settleMs > 0) await pause(settleMs, true);
      woken = false;
      let idleMs: number;
      try {
        idleMs = await opts.round(isRunning);
        failures = 0;
      } catch (err) {
        failures++;
        const delay = Math.min(30_000, 1_000 * 2 ** Math.min(failures - 1, 5));
        opts.logger.error({ err, ...opts.logFields, retryInMs: delay }, opts.failureMessage);
        await pause(delay, true);
        continue;
      }
      if (running && !woken) await pause(idleMs, false);
    }
  };

  return {
    async start() {
      if (running) return;
      listener = await listenForNotifications({ connection: opts.pool.options, channel: outboxChannel, onNotify: wake, logger: opts.logger });
      running = true;
      loop = run();
    },
    async stop() {
      if (!running) return;
      running = false;
      wakeWaiter?.();
      await loop;
      await listener?.close();
      listener = undefined;
    },
  };
}
