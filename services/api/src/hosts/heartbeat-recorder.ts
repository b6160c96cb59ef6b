/**
 * Heartbeat times for ListHosts. Heartbeats are not events (core NATS, every few seconds per
 * host: recording them in the log would add a row per host per beat to every reader), so the
 * api follows them itself on `<prefix>.host.*.heartbeat`, as the scheduler does for liveness,
 * and moves `api_hosts.last_heartbeat` forward to when it received one.
 *
 * Contract: at most one write per host per `writeIntervalMs` (default 1 s, as the scheduler
 * wrote its own); a write never moves the time back; a heartbeat of a host the projection has
 * no row for yet (its HostRegistered not applied) writes nothing and does not count against
 * the interval, so the next one tries again. Failed writes are logged, never thrown.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import { subscribeHeartbeats } from "@shoal/bus";
import type { ApiDatabase } from "../api-database";

export interface HeartbeatRecorder {
  /** Unsubscribes; writes in flight finish on their own. */
  stop(): Promise<void>;
}

export function startHeartbeatRecorder(deps: {
  db: Kysely<ApiDatabase>;
  nc: NatsConnection;
  prefix: string;
  logger: Logger;
  /** The clock (tests). */
  now?: () => Date;
  writeIntervalMs?: number;
}): HeartbeatRecorder {
  const now = deps.now ?? (() => new Date());
  const writeEvery = deps.writeIntervalMs ?? 1_000;
  /** Per host: when its heartbeat time was last written. */
  const lastWritten = new Map<string, number>();

  const record = async (host: string, at: Date): Promise<void> => {
    const result = await deps.db
      .updateTable("api_hosts")
      .set((eb) => ({ last_heartbeat: eb.fn<Date>("greatest", [eb.ref("last_heartbeat"), eb.val(at)]) }))
      .where("name", "=", host)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) lastWritten.delete(host);
  };

  const subscription = subscribeHeartbeats(deps.nc, {
    prefix: deps.prefix,
    logger: deps.logger,
    onHeartbeat: (beat) => {
      const at = now();
      if (at.getTime() - (lastWritten.get(beat.host) ?? 0) < writeEvery) return;
      lastWritten.set(beat.host, at.getTime());
      record(beat.host, at).catch((err: unknown) => {
        lastWritten.delete(beat.host);
        deps.logger.warn({ host: beat.host, err }, "could not record a heartbeat time");
      });
    },
  });
  return { stop: () => subscription.stop() };
}
