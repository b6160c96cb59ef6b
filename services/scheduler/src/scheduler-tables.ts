/**
 * The scheduler's tables (migrations 0200, 0201, 0202; `SchedulerDatabase`): `hosts` and
 * `placements`, the durable record of the capacity view (loaded from them at start) and of
 * liveness. `placements` is written only by the `scheduler` projection, off the
 * start path; `hosts` also by the host registry in its appends' transactions. Every write
 * here is idempotent and monotonic, so the two writers may apply the same fact in either
 * order:
 * - a host row follows the newest registration (`registered_at`); a loss applies only to
 *   the registration it names;
 * - a placement row follows the newest ContainerScheduled (`scheduled_version`); a
 *   release deletes only rows scheduled before it.
 */
import type { HostCapabilities } from "@shoal/domain";
import type { KyselyOrTransaction } from "@shoal/event-store";
import type { Reservation } from "./capacity-view";
import type { SchedulerDatabase } from "./scheduler-database";

/** The scheduler's database, or a transaction of it (a host handler's append, the projection's batch). */
type Db = KyselyOrTransaction<SchedulerDatabase>;

export type HostRow = {
  name: string;
  status: "ready" | "lost";
  capabilities: HostCapabilities;
  memoryBytes: number;
  /** Absent: the registration reported no CPU count. */
  nanoCpus?: number;
  /** `shoal host drain` in force (0203). */
  draining: boolean;
  registeredAt: Date;
  lastHeartbeat: Date | null;
};

/** A new registration starts with no heartbeat (`last_heartbeat` NULL until the first one after it). */
export async function upsertRegisteredHost(
  trx: Db,
  h: { host: string; capabilities: HostCapabilities; memoryBytes: number; nanoCpus?: number; registeredAt: string },
): Promise<void> {
  await trx
    .insertInto("hosts")
    .values({
      name: h.host,
      status: "ready",
      capabilities: JSON.stringify(h.capabilities),
      memory_bytes: h.memoryBytes,
      nano_cpus: h.nanoCpus ?? null,
      registered_at: h.registeredAt,
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
          last_heartbeat: null,
          lost_at: null,
          lost_reason: null,
        }))
        .where("hosts.registered_at", "<", (eb) => eb.ref("excluded.registered_at")),
    )
    .execute();
}

export async function markHostRowLost(
  trx: Db,
  h: { host: string; registeredAt: string; lostAt: string; reason: string },
): Promise<void> {
  await trx
    .updateTable("hosts")
    .set({ status: "lost", lost_at: h.lostAt, lost_reason: h.reason })
    .where("name", "=", h.host)
    .where("registered_at", "=", new Date(h.registeredAt))
    .execute();
}

/** Moves `last_heartbeat` forward (never back) and returns the host's status; undefined for a host with no row. */
export async function recordHeartbeat(db: Db, host: string, at: Date): Promise<"ready" | "lost" | undefined> {
  const row = await db
    .updateTable("hosts")
    .set((eb) => ({ last_heartbeat: eb.fn<Date>("greatest", [eb.ref("last_heartbeat"), eb.val(at)]) }))
    .where("name", "=", host)
    .returning("status")
    .executeTakeFirst();
  return row?.status;
}

export async function listHosts(db: Db): Promise<HostRow[]> {
  const rows = await db
    .selectFrom("hosts")
    .select(["name", "status", "capabilities", "memory_bytes", "nano_cpus", "draining", "registered_at", "last_heartbeat"])
    .orderBy("name")
    .execute();
  return rows.map((row) => ({
    name: row.name,
    status: row.status,
    capabilities: row.capabilities,
    memoryBytes: Number(row.memory_bytes),
    ...(row.nano_cpus === null ? {} : { nanoCpus: Number(row.nano_cpus) }),
    draining: row.draining,
    registeredAt: row.registered_at,
    lastHeartbeat: row.last_heartbeat,
  }));
}

/** Starts or ends the host's drain (HostDrainRequested / HostActivated); a host with no row is left alone. */
export async function setHostDraining(trx: Db, host: string, draining: boolean): Promise<void> {
  await trx.updateTable("hosts").set({ draining }).where("name", "=", host).execute();
}

export type PlacementRow = Reservation;

export async function upsertPlacement(
  trx: Db,
  p: Reservation & { scheduledAt: string },
): Promise<void> {
  await trx
    .insertInto("placements")
    .values({
      container_id: p.containerId,
      container_name: p.containerName,
      host: p.host,
      reserved_bytes: p.reservedBytes,
      reserved_nano_cpus: p.reservedNanoCpus,
      scheduled_version: p.scheduledVersion,
      scheduled_at: p.scheduledAt,
    })
    .onConflict((oc) =>
      oc
        .column("container_id")
        .doUpdateSet((eb) => ({
          container_name: eb.ref("excluded.container_name"),
          host: eb.ref("excluded.host"),
          reserved_bytes: eb.ref("excluded.reserved_bytes"),
          reserved_nano_cpus: eb.ref("excluded.reserved_nano_cpus"),
          scheduled_version: eb.ref("excluded.scheduled_version"),
          scheduled_at: eb.ref("excluded.scheduled_at"),
        }))
        .where("placements.scheduled_version", "<", (eb) => eb.ref("excluded.scheduled_version")),
    )
    .execute();
}

/** Frees what the container held, unless it was placed again after the event at `beforeVersion`. */
export async function releasePlacement(trx: Db, containerId: string, beforeVersion: number): Promise<number> {
  const r = await trx
    .deleteFrom("placements")
    .where("container_id", "=", containerId)
    .where("scheduled_version", "<", beforeVersion)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

export async function listPlacements(db: Db): Promise<PlacementRow[]> {
  const rows = await db
    .selectFrom("placements")
    .select(["container_id", "container_name", "host", "reserved_bytes", "reserved_nano_cpus", "scheduled_version"])
    .orderBy("container_id")
    .execute();
  return rows.map((row) => ({
    containerId: row.container_id,
    containerName: row.container_name,
    host: row.host,
    reservedBytes: Number(row.reserved_bytes),
    reservedNanoCpus: Number(row.reserved_nano_cpus),
    scheduledVersion: row.scheduled_version,
  }));
}

export async function resetTables(trx: Db): Promise<void> {
  await trx.deleteFrom("hosts").execute();
  await trx.deleteFrom("placements").execute();
}
