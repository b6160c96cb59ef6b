/**
 * The `scheduler` projection: keeps `hosts` and `placements` from the log, so both tables
 * can be dropped and rebuilt (`rebuild()`). It is the only writer of `placements` (the
 * start path appends and reserves in memory only) and a second writer of `hosts` beside
 * the host registry's transactions; every write is idempotent and monotonic (see
 * scheduler-tables.ts), so the writers agree whatever order they run in. The active
 * scheduler loads its capacity view from these tables after a complete catch-up, so they
 * must hold every committed placement then — they do, being folded from the log.
 */
import type { Kysely, Transaction } from "kysely";
import type pg from "pg";
import { containerDecider, isContainerEventType } from "@shoal/domain";
import type { ContainerEvent, ContainerState } from "@shoal/domain";
import { FOLLOWER_SETTLE_MS, createProjectionRunner } from "@shoal/event-store";
import type { EventStore, GlobalEvent, Logger, ProjectionRunner } from "@shoal/event-store";
import { containerAsk, pinnedHostOf, scheduledReservation } from "./container-request";
import { readDaemonConfig } from "./daemon-config";
import type { HostEvent } from "./host-decider";
import type { SchedulerDatabase } from "./scheduler-database";
import { PLACEMENT_RELEASING_EVENT_TYPES } from "@shoal/domain";
import {
  markHostRowLost,
  releasePlacement,
  setHostDraining,
  resetTables,
  upsertPlacement,
  upsertRegisteredHost,
} from "./scheduler-tables";

export const SCHEDULER_PROJECTION = "scheduler";

/** Event types that end a container's hold on its host (the domain's rule). */
export const RELEASING_EVENT_TYPES: ReadonlySet<string> = PLACEMENT_RELEASING_EVENT_TYPES;

export function createSchedulerProjection(opts: {
  db: Kysely<SchedulerDatabase>;
  pool: pg.Pool;
  store: EventStore;
  logger?: Logger;
}): ProjectionRunner {
  return createProjectionRunner({
    name: SCHEDULER_PROJECTION,
    db: opts.db,
    pool: opts.pool,
    ...(opts.logger === undefined ? {} : { logger: opts.logger }),
    reset: resetTables,
    settleMs: FOLLOWER_SETTLE_MS,
    handle: (event, trx) => applyEvent(opts.store, event, trx),
  });
}

async function applyEvent(store: EventStore, event: GlobalEvent, trx: Transaction<SchedulerDatabase>): Promise<void> {
  if (event.type === "HostRegistered") {
    await upsertRegisteredHost(trx, (event as unknown as Extract<HostEvent, { type: "HostRegistered" }>).data);
    return;
  }
  if (event.type === "HostLost") {
    await markHostRowLost(trx, (event as unknown as Extract<HostEvent, { type: "HostLost" }>).data);
    return;
  }
  if (event.type === "HostDrainRequested" || event.type === "HostActivated") {
    await setHostDraining(trx, (event.data as { host: string }).host, event.type === "HostDrainRequested");
    return;
  }
  if (!isContainerEventType(event.type)) return;
  const data = event.data as { containerId: string };
  if (event.type === "ContainerScheduled") {
    await applyScheduled(store, event, trx);
  } else if (RELEASING_EVENT_TYPES.has(event.type)) {
    await releasePlacement(trx, data.containerId, event.streamVersion);
  }
}

/**
 * Placement of a recorded ContainerScheduled: the reservation it carries; for one recorded
 * before those fields, the container's ask from its definition and the config read now.
 */
async function applyScheduled(store: EventStore, event: GlobalEvent, trx: Transaction<SchedulerDatabase>): Promise<void> {
  const recorded = await store.readStream(event.streamId, { trx, limit: event.streamVersion });
  let state: ContainerState = containerDecider.initialState();
  for (const r of recorded) state = containerDecider.evolve(state, { type: r.type, data: r.data } as ContainerEvent);
  if (state.status === "absent") return;
  const config = await readDaemonConfig(store, trx);
  const created = recorded[0];
  const ask = containerAsk(state.container, config, pinnedHostOf(created?.data));
  const d = event.data as { containerId: string; host: string; scheduledAt: string };
  await upsertPlacement(trx, {
    containerId: d.containerId,
    containerName: state.container.name,
    host: d.host,
    ...scheduledReservation(event.data, ask),
    scheduledVersion: event.streamVersion,
    scheduledAt: d.scheduledAt,
  });
}
