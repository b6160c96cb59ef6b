/**
 * The daemon config as the api holds it: loaded from the `config-daemon` stream at start,
 * refreshed when a DaemonConfigChanged event is published (core NATS, then a re-read of
 * the stream, so a lost message is caught by the next one or the safety re-read).
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { eventsFilter } from "@shoal/bus";
import {
  CONFIG_EVENT_SCHEMA_VERSIONS,
  DAEMON_CONFIG_STREAM,
  createConfigHolder,
  defaultDaemonConfig,
} from "@shoal/config";
import type { ConfigHolder } from "@shoal/config";
import { AbortedError, AlreadyExistsError, derivedEventId } from "@shoal/domain";
import type { EventStore } from "@shoal/event-store";
import { loadConfigSnapshot } from "./config-service";
import type { Logger } from "pino";

/**
 * Records the built-in defaults as version 1 when the config has no event yet, so every
 * container records a real config version at start (versions start at 1). Concurrent
 * callers are safe: the event id is fixed and the stream must not exist.
 */
export async function ensureInitialConfig(store: EventStore): Promise<void> {
  const existing = await store.readStream(DAEMON_CONFIG_STREAM, { limit: 1 });
  if (existing.length > 0) return;
  try {
    await store.appendToStream(DAEMON_CONFIG_STREAM, "no-stream", [
      {
        eventId: derivedEventId("config:initial-defaults"),
        type: "DaemonConfigChanged",
        schemaVersion: CONFIG_EVENT_SCHEMA_VERSIONS.DaemonConfigChanged,
        data: { version: 1, previousVersion: 0, config: defaultDaemonConfig(), source: "reload", changedAt: new Date().toISOString() },
        metadata: { actor: "api" },
      },
    ]);
  } catch (err) {
    if (err instanceof AbortedError || err instanceof AlreadyExistsError) return;
    throw err;
  }
}

export interface DaemonConfigSource {
  holder: ConfigHolder;
  /** Re-reads the stream and swaps in a newer snapshot. */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

export async function startDaemonConfigSource(opts: {
  store: EventStore;
  nc: NatsConnection;
  prefix: string;
  logger: Logger;
  /** Safety re-read interval (default 30 s). */
  recheckMs?: number;
}): Promise<DaemonConfigSource> {
  const { store, logger } = opts;
  await ensureInitialConfig(store);
  const holder = createConfigHolder(await loadConfigSnapshot(store));
  const refresh = async () => {
    const result = holder.swap(await loadConfigSnapshot(store));
    if (result.swapped) logger.info({ version: holder.current().version }, "daemon config changed");
  };
  const safeRefresh = () => void refresh().catch((err: unknown) => logger.warn({ err }, "could not re-read the daemon config"));
  const sub: Subscription = opts.nc.subscribe(eventsFilter(opts.prefix, "config"), { callback: (err) => { if (!err) safeRefresh(); } });
  await opts.nc.flush();
  // Closes the gap between the first read and the subscription.
  await refresh();
  const timer = setInterval(safeRefresh, opts.recheckMs ?? 30_000);
  timer.unref();
  return {
    holder,
    refresh,
    async close() {
      clearInterval(timer);
      if (!sub.isClosed()) sub.unsubscribe();
    },
  };
}
