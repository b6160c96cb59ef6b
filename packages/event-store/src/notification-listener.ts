import pg from "pg";
import { UnavailableError } from "@shoal/domain";
import type { Logger } from "./logger";

export interface NotificationListener {
  /** Stops listening and closes the dedicated connection. */
  close(): Promise<void>;
}

export interface ListenOptions {
  /** Connection settings for the dedicated LISTEN connection (e.g. a pool's `options`). */
  connection: pg.ClientConfig;
  channel: string;
  /**
   * Called for every notification, and after every (re)connect because notifications sent
   * while the connection was down are lost: the caller must re-check what it waits for.
   */
  onNotify: () => void;
  logger: Logger;
}

/**
 * Holds one connection LISTENing on `channel`, reconnecting with backoff (100 ms doubling to
 * 5 s) whenever it drops. Resolves once the first LISTEN is in place; rejects with
 * UnavailableError when that first connection fails.
 */
export async function listenForNotifications(opts: ListenOptions): Promise<NotificationListener> {
  const { connection, channel, onNotify, logger } = opts;
  let closed = false;
  let client: pg.Client | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;

  const connect = async (): Promise<void> => {
    const next = new pg.Client(connection);
    next.on("notification", (msg) => {
      if (msg.channel === channel) onNotify();
    });
    next.on("error", (err) => {
      logger.warn({ err, channel }, "LISTEN connection failed");
      dropped(next);
    });
    next.on("end", () => dropped(next));
    try {
      await next.connect();
      await next.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (err) {
      next.removeAllListeners("end");
      await next.end().catch(() => {});
      throw err;
    }
    if (closed) {
      await next.end().catch(() => {});
      return;
    }
    client = next;
    failures = 0;
    onNotify();
  };

  const dropped = (which: pg.Client): void => {
    if (client !== which) return;
    client = undefined;
    which.end().catch(() => {});
    scheduleReconnect();
  };

  const scheduleReconnect = (): void => {
    if (closed || retryTimer) return;
    const delay = Math.min(5_000, 100 * 2 ** Math.min(failures, 6));
    failures++;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (closed) return;
      connect().then(
        () => logger.info({ channel }, "LISTEN connection re-established"),
        (err: unknown) => {
          logger.warn({ err, channel, failures }, "LISTEN reconnect failed");
          scheduleReconnect();
        },
      );
    }, delay);
  };

  try {
    await connect();
  } catch (err) {
    throw new UnavailableError(`cannot LISTEN on ${channel}: ${(err as Error).message}`, { cause: err });
  }

  return {
    async close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = undefined;
      const current = client;
      client = undefined;
      if (current) {
        current.removeAllListeners("end");
        await current.end().catch(() => {});
      }
    },
  };
}
