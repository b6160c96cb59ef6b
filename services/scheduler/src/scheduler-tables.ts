/**
 * The scheduler's tables (migrations 0200, 0201): `hosts` and `placements`, the durable
 * record of the capacity view (loaded from them at start) and what readers such as the
 * api's ListHosts see. `placements` is written only by the `scheduler` projection, off the
 * start path; `hosts` also by the host registry in its appends' transactions. Every write
 * here is idempotent and monotonic, so the two writers may apply the same fact in either
 * order:
 * - a host row follows the newest registration (`registered_at`); a loss applies only to
 *   the registration it names;
 * - a placement row follows the newest ContainerScheduled (`scheduled_version`); a
 *   release deletes only rows scheduled before it.
 */
import { sql } from "kysely";
import type { Kysely } from "kysely";
import type { HostCapabilities } from "@shoal/domain";
import type { ContainerView } from "./placement";

type Db = Kysely<any>;

export type HostRow = {
  name: string;
  status: "ready" | "lost";
  capabilities: Record<string, unknown>;
  memoryBytes: number;
  registeredAt: Date;
  lastHeartbeat: Date | null;
};

/** A new registration starts with no heartbeat (`last_heartbeat` NULL until the first one after it). */
export async function upsertRegisteredHost(
  trx: Db,
  h: { host: string; capabilities: HostCapabilities; memoryBytes: number; registeredAt: string },
): Promise<void> {
  await sql`
    INSERT INTO hosts (name, status, capabilities, memory_bytes, registered_at, last_heartbeat)
    VALUES (${h.host}, 'ready', ${JSON.stringify(h.capabilities)}::jsonb, ${h.memoryBytes}, ${h.registeredAt}::timestamptz, NULL)
    ON CONFLICT (name) DO UPDATE SET
      status = 'ready', capabilities = excluded.capabilities, memory_bytes = excluded.memory_bytes,
      registered_at = excluded.registered_at, last_heartbeat = NULL, lost_at = NULL, lost_reason = NULL
    WHERE hosts.registered_at < excluded.registered_at`.execute(trx);
}

export async function markHostRowLost(
  trx: Db,
  h: { host: string; registeredAt: string; lostAt: string; reason: string },
): Promise<void> {
  await sql`
    UPDATE hosts SET status = 'lost', lost_at = ${h.lostAt}::timestamptz, lost_reason = ${h.reason}
    WHERE name = ${h.host} AND registered_at = ${h.registeredAt}::timestamptz`.execute(trx);
}

/** Moves `last_heartbeat` forward (never back) and returns the host's status; undefined for a host with no row. */
export async function recordHeartbeat(db: Db, host: string, at: Date): Promise<"ready" | "lost" | undefined> {
  const r = await sql<{ status: "ready" | "lost" }>`
    UPDATE hosts SET last_heartbeat = GREATEST(last_heartbeat, ${at.toISOString()}::timestamptz)
    WHERE name = ${host} RETURNING status`.execute(db);
  return r.rows[0]?.status;
}

export async function listHosts(db: Db): Promise<HostRow[]> {
  const r = await sql<{
    name: string;
    status: "ready" | "lost";
    capabilities: Record<string, unknown>;
    memory_bytes: string;
    registered_at: Date;
    last_heartbeat: Date | null;
  }>`SELECT name, status, capabilities, memory_bytes, registered_at, last_heartbeat FROM hosts ORDER BY name`.execute(db);
  return r.rows.map((row) => ({
    name: row.name,
    status: row.status,
    capabilities: row.capabilities,
    memoryBytes: Number(row.memory_bytes),
    registeredAt: row.registered_at,
    lastHeartbeat: row.last_heartbeat,
  }));
}

export type PlacementRow = ContainerView & { containerName: string; scheduledVersion: number };

export async function upsertPlacement(
  trx: Db,
  p: { containerId: string; containerName: string; host: string; reservedBytes: number; scheduledVersion: number; scheduledAt: string },
): Promise<void> {
  await sql`
    INSERT INTO placements (container_id, container_name, host, reserved_bytes, scheduled_version, scheduled_at)
    VALUES (${p.containerId}, ${p.containerName}, ${p.host}, ${p.reservedBytes}, ${p.scheduledVersion}, ${p.scheduledAt}::timestamptz)
    ON CONFLICT (container_id) DO UPDATE SET
      container_name = excluded.container_name, host = excluded.host, reserved_bytes = excluded.reserved_bytes,
      scheduled_version = excluded.scheduled_version, scheduled_at = excluded.scheduled_at
    WHERE placements.scheduled_version < excluded.scheduled_version`.execute(trx);
}

/** Frees what the container held, unless it was placed again after the event at `beforeVersion`. */
export async function releasePlacement(trx: Db, containerId: string, beforeVersion: number): Promise<number> {
  const r = await sql`DELETE FROM placements WHERE container_id = ${containerId} AND scheduled_version < ${beforeVersion}`.execute(trx);
  return Number(r.numAffectedRows ?? 0);
}

export async function listPlacements(db: Db): Promise<PlacementRow[]> {
  const r = await sql<{
    container_id: string;
    container_name: string;
    host: string;
    reserved_bytes: string;
    scheduled_version: number;
  }>`SELECT container_id, container_name, host, reserved_bytes, scheduled_version FROM placements ORDER BY container_id`.execute(db);
  return r.rows.map((row) => ({
    containerId: row.container_id,
    containerName: row.container_name,
    host: row.host,
    reservedBytes: Number(row.reserved_bytes),
    scheduledVersion: row.scheduled_version,
  }));
}

export async function resetTables(trx: Db): Promise<void> {
  await sql`DELETE FROM hosts`.execute(trx);
  await sql`DELETE FROM placements`.execute(trx);
}
