/**
 * The `api-hosts` projection: `api_hosts` and `api_placements` (migrations 0102, 0103), what
 * ListHosts answers from. Kept from the log by a projection runner; `reset` empties both
 * tables so it can be rebuilt (heartbeat times then start again from NULL: they are not
 * events, see heartbeat-recorder.ts).
 *
 *   HostRegistered      ─► the host's row follows its newest registration (`registeredAt`):
 *                          ready, capabilities, memory, CPUs (NULL when it reported none); a
 *                          heartbeat received before it is dropped
 *   HostLost            ─► the row of the registration it names becomes lost
 *   HostDrainRequested | HostActivated ─► the host's drain flag (kept across registrations)
 *   ContainerScheduled  ─► the container's placement on its host, holding the bytes and CPUs
 *                          the scheduler reserved (`reservedBytes`, `reservedNanoCpus`; 0 on a
 *                          placement recorded before the field); a newer ContainerScheduled
 *                          replaces it
 *   PLACEMENT_RELEASING_EVENT_TYPES (exited, start failed, removed, died, restart planned)
 *                       ─► that placement is released, unless the container was placed again after
 *
 * Every write is idempotent and monotonic (a host row moves only to a newer registration, a
 * placement only to a newer ContainerScheduled), so replaying the log gives the same rows.
 */
import type { Kysely, Transaction } from "kysely";
import type pg from "pg";
import { PLACEMENT_RELEASING_EVENT_TYPES, isContainerEventType, isHostEventType } from "@shoal/domain";
import type { ContainerEvent, HostEvent } from "@shoal/domain";
import { FOLLOWER_SETTLE_MS, createProjectionRunner } from "@shoal/event-store";
import type { GlobalEvent, Logger, ProjectionRunner } from "@shoal/event-store";
import type { ApiDatabase } from "../api-database";

export const HOSTS_PROJECTION = "api-hosts";

/** Container events that end a container's hold on its host (the domain's rule, as the scheduler's). */
const RELEASING: ReadonlySet<ContainerEvent["type"]> = PLACEMENT_RELEASING_EVENT_TYPES;

/** Applies one event to the projection's rows, through `trx` only. */
export async function applyHostsEvent(event: GlobalEvent, trx: Transaction<ApiDatabase>): Promise<void> {
  if (isHostEventType(event.type)) {
    await applyHostEvent({ type: event.type, data: event.data } as HostEvent, trx);
    return;
  }
  if (!isContainerEventType(event.type)) return;
  const e = { type: event.type, data: event.data } as ContainerEvent;
  if (e.type === "ContainerScheduled") {
    await trx
      .insertInto("api_placements")
      .values({
        container_id: e.data.containerId,
        host: e.data.host,
        reserved_bytes: e.data.reservedBytes ?? 0,
        reserved_nano_cpus: e.data.reservedNanoCpus ?? 0,
        scheduled_version: event.streamVersion,
      })
      .onConflict((oc) =>
        oc
          .column("container_id")
          .doUpdateSet((eb) => ({
            host: eb.ref("excluded.host"),
            reserved_bytes: eb.ref("excluded.reserved_bytes"),
            reserved_nano_cpus: eb.ref("excluded.reserved_nano_cpus"),
            scheduled_version: eb.ref("excluded.scheduled_version"),
          }))
          .where("api_placements.scheduled_version", "<", (eb) => eb.ref("excluded.scheduled_version")),
      )
      .execute();
  } else if (RELEASING.has(e.type)) {
    await trx
      .deleteFrom("api_placements")
      .where("container_id", "=", e.data.containerId)
      .where("scheduled_version", "<", event.streamVersion)
      .execute();
  }
}

async function applyHostEvent(e: HostEvent, trx: Transaction<ApiDatabase>): Promise<void> {
  switch (e.type) {
    case "HostRegistered": {
      const d = e.data;
      await trx
        .insertInto("api_hosts")
        .values({
          name: d.host,
          status: "ready",
          capabilities: JSON.stringify(d.capabilities),
          memory_bytes: d.memoryBytes,
          nano_cpus: d.nanoCpus ?? null,
          registered_at: d.registeredAt,
          last_heartbeat: null,
        })
        .onConflict((oc) =>
          oc
            .column("name")
            .doUpdateSet((eb) => ({
              status: "ready",
              capabilities: eb.ref("excluded.capabilities"),
              memory_bytes: eb.ref("excluded.memory_bytes"),
              nano_cpus: eb.ref("excluded.nano_cpus"),
              registered_at: eb.ref("excluded.registered_at"),
              // A heartbeat received after the agent started belongs to this registration
              // (the recorder may have written it before this event was applied).
              last_heartbeat: eb
                .case()
                .when("api_hosts.last_heartbeat", ">=", eb.ref("excluded.registered_at"))
                .then(eb.ref("api_hosts.last_heartbeat"))
                .else(null)
                .end(),
            }))
            .where("api_hosts.registered_at", "<", (eb) => eb.ref("excluded.registered_at")),
        )
        .execute();
      return;
    }
    case "HostLost":
      await trx
        .updateTable("api_hosts")
        .set({ status: "lost" })
        .where("name", "=", e.data.host)
        .where("registered_at", "=", new Date(e.data.registeredAt))
        .execute();
      return;
    case "HostDrainRequested":
    case "HostActivated":
      await trx
        .updateTable("api_hosts")
        .set({ draining: e.type === "HostDrainRequested" })
        .where("name", "=", e.data.host)
        .execute();
      return;
  }
}

/** Deletes every row of the projection, through `trx`; `rebuild()` replays the log after it. */
export async function resetHostsProjection(trx: Transaction<ApiDatabase>): Promise<void> {
  await trx.deleteFrom("api_placements").execute();
  await trx.deleteFrom("api_hosts").execute();
}

export function createHostsProjection(opts: { db: Kysely<ApiDatabase>; pool: pg.Pool; logger?: Logger }): ProjectionRunner {
  return createProjectionRunner({
    name: HOSTS_PROJECTION,
    db: opts.db,
    pool: opts.pool,
    handle: applyHostsEvent,
    reset: resetHostsProjection,
    // ListHosts calls catchUp(); the live follow can wait.
    settleMs: FOLLOWER_SETTLE_MS,
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
}
