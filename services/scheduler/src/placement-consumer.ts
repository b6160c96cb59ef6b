/**
 * Places containers whose start was requested, and frees their reservations when they
 * end. One handler for `<prefix>.evt.container.>` (nats-server 2.9 allows one filter per
 * consumer), filtering by type:
 *
 *   ContainerStartRequested ─ plan (placement.ts) ─► ContainerScheduled{host}     id scheduled:<request id>
 *                                                └─► ContainerStartFailed{125}    id no-host:<request id>
 *   ContainerExited / StartFailed / Removed / Died ─► placement row deleted
 *
 * Idempotent by the stream's own state: a request whose outcome (either derived id) is
 * already in the stream, or that is no longer the container's latest start request, or
 * whose container is no longer `starting`, is acked with nothing appended.
 */
import type { Kysely } from "kysely";
import { CONTAINER_EVENT_SCHEMA_VERSIONS, containerDecider, derivedEventId } from "@shoal/domain";
import type { ContainerCommand, ContainerEvent, ContainerState } from "@shoal/domain";
import type { EventEnvelope } from "@shoal/bus";
import type { EventStore, Logger } from "@shoal/event-store";
import { containerAsk, pinnedHostOf } from "./container-request";
import { decideInTransaction } from "./decide-in-transaction";
import { createDaemonConfigReader } from "./daemon-config";
import type { SchedulerMetrics } from "./metrics";
import { planPlacement } from "./placement";
import type { PlacementPlan } from "./placement";
import { RELEASING_EVENT_TYPES } from "./scheduler-projection";
import { readPlacementSnapshot, releasePlacement, resolvePlacedOwner, upsertPlacement } from "./scheduler-tables";

export const PLACEMENT_DURABLE = "scheduler-placement";

export type PlacementOutcome =
  | { result: "placed"; host: string }
  | { result: "unavailable"; reason: string }
  | { result: "skipped"; why: string }
  | { result: "released"; rows: number }
  | { result: "ignored" };

export function createPlacementHandler(deps: {
  db: Kysely<any>;
  store: EventStore;
  metrics: SchedulerMetrics;
  logger: Logger;
  now: () => Date;
}): (event: EventEnvelope) => Promise<PlacementOutcome> {
  const { db, store, metrics, logger } = deps;
  const readConfig = createDaemonConfigReader(store);

  const onStartRequested = async (event: EventEnvelope): Promise<PlacementOutcome> => {
    const began = performance.now();
    const scheduledId = derivedEventId(`scheduled:${event.eventId}`);
    const failedId = derivedEventId(`no-host:${event.eventId}`);
    let outcome = { result: "ignored" } as PlacementOutcome;
    let plan = undefined as PlacementPlan | undefined;
    // Beside the transaction, as the stream is: the config in force when the request arrived.
    const config = readConfig();
    config.catch(() => undefined);
    await decideInTransaction<ContainerState, ContainerCommand, ContainerEvent>(db, store, {
      streamId: event.streamId,
      decider: containerDecider,
      schemaVersion: (type) => CONTAINER_EVENT_SCHEMA_VERSIONS[type],
      metadata: { causationId: event.eventId, actor: "scheduler", ...correlation(event) },
      async plan(trx, { recorded, state }) {
        if (recorded.some((r) => r.eventId === scheduledId || r.eventId === failedId)) {
          outcome = { result: "skipped", why: "already decided" };
          return undefined;
        }
        const latest = recorded.findLast((r) => r.type === "ContainerStartRequested");
        if (latest?.eventId !== event.eventId || state.status !== "starting") {
          outcome = { result: "skipped", why: `superseded (status ${state.status})` };
          return undefined;
        }
        const ask = containerAsk(state.container, await config, pinnedHostOf(recorded[0]?.data));
        const rows = await readPlacementSnapshot(trx, state.container.id, ask.ownerRef);
        const owner = ask.ownerRef === undefined ? undefined : resolvePlacedOwner(rows.ownerCandidates, ask.ownerRef);
        const { ownerRef: _ownerRef, reservedBytes: _reserved, ...request } = ask;
        plan = planPlacement({
          hosts: rows.hosts,
          // Per-host totals for capacity; the owner (counted in them) only to say where it is.
          containers: owner === undefined ? rows.reservedPerHost : [...rows.reservedPerHost, { ...owner, reservedBytes: 0 }],
          request: owner === undefined ? request : { ...request, ownerId: owner.containerId },
        });
        const now = deps.now().toISOString();
        const containerId = state.container.id;
        if ("place" in plan) {
          outcome = { result: "placed", host: plan.place.host };
          return {
            command: { type: "RecordScheduled", data: { containerId, now, host: plan.place.host } },
            eventId: () => scheduledId,
          };
        }
        outcome = { result: "unavailable", reason: plan.unavailable };
        return {
          command: {
            type: "RecordStartFailed",
            data: { containerId, now, exitCode: 125, reason: `no suitable host: ${plan.unavailable}` },
          },
          // With --rm the decider adds ContainerRemovalRequested: it gets its own derived id.
          eventId: (_e, i) => (i === 0 ? failedId : derivedEventId(`no-host:${event.eventId}:${i}`)),
        };
      },
      async then(trx, { state, version }) {
        if (plan === undefined || !("place" in plan) || state.status === "absent") return;
        await upsertPlacement(trx, {
          containerId: state.container.id,
          containerName: state.container.name,
          host: plan.place.host,
          reservedBytes: plan.place.reservedBytes,
          scheduledVersion: version + 1,
          scheduledAt: deps.now().toISOString(),
        });
      },
    });
    const ms = performance.now() - began;
    if (outcome.result === "placed" || outcome.result === "unavailable") {
      metrics.placements.inc({ result: outcome.result });
      metrics.placementSeconds.observe({ result: outcome.result }, ms / 1000);
    }
    logger.info({ containerStream: event.streamId, request: event.eventId, ...outcome, ms: Math.round(ms * 10) / 10 }, "placement");
    return outcome;
  };

  return async (event) => {
    if (event.type === "ContainerStartRequested") return onStartRequested(event);
    if (RELEASING_EVENT_TYPES.has(event.type)) {
      const containerId = (event.data as { containerId?: unknown }).containerId;
      if (typeof containerId !== "string") return { result: "ignored" };
      return { result: "released", rows: await releasePlacement(db, containerId, event.streamVersion) };
    }
    return { result: "ignored" };
  };
}

function correlation(event: EventEnvelope): { correlationId?: string } {
  const c = event.metadata["correlationId"];
  return typeof c === "string" ? { correlationId: c } : {};
}
