/**
 * The scheduler's tables (migrations 0200, 0201): `hosts` and `placements`. Every write
 * here is idempotent and monotonic, so the projection runner (rebuilds, catch-up) and the
 * consumers (which write in the transaction of their own appends) may apply the same
 * fact in either order:
 * - a host row follows the newest registration (`registered_at`); a loss applies only to
 *   the registration it names;
 * - a placement row follows the newest ContainerScheduled (`scheduled_version`); a
 *   release deletes only rows scheduled before it.
 */
import { sql } from "kysely";
import type { Kysely } from "kysely";
import type { ContainerView, HostView } from "./placement";

type Db = Kysely<any>;

/** Serialises placements and host losses across scheduler instances ("SHSC"). */
export async function lockScheduling(trx: Db): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(${0x53485343}::int, 0)`.execute(trx);
}

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
  h: { host: string; capabilities: Record<string, unknown>; memoryBytes: number; registeredAt: string },
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

export async function listPlacements(db: Db, host?: string): Promise<PlacementRow[]> {
  const where = host === undefined ? sql`` : sql`WHERE host = ${host}`;
  const r = await sql<{
    container_id: string;
    container_name: string;
    host: string;
    reserved_bytes: string;
    scheduled_version: number;
  }>`SELECT container_id, container_name, host, reserved_bytes, scheduled_version FROM placements ${where} ORDER BY container_id`.execute(db);
  return r.rows.map((row) => ({
    containerId: row.container_id,
    containerName: row.container_name,
    host: row.host,
    reservedBytes: Number(row.reserved_bytes),
    scheduledVersion: row.scheduled_version,
  }));
}

export type PlacementSnapshotRows = {
  hosts: HostView[];
  /** One view per host: the bytes reserved there by containers other than `containerId`. */
  reservedPerHost: ContainerView[];
  /** Placed containers whose id, name or id prefix matches `ownerRef` (none without one). */
  ownerCandidates: PlacementRow[];
};

/**
 * What a placement is planned against, in one query whose size grows with hosts, not
 * containers. Read it inside the scheduling lock.
 */
export async function readPlacementSnapshot(trx: Db, containerId: string, ownerRef: string | undefined): Promise<PlacementSnapshotRows> {
  const r = await sql<{ hosts: HostView[]; reserved: { host: string; reservedBytes: number }[]; owners: PlacementRow[] }>`
    SELECT
      (SELECT coalesce(json_agg(json_build_object('name', name, 'status', status, 'memoryBytes', memory_bytes) ORDER BY name), '[]')
         FROM hosts) AS hosts,
      (SELECT coalesce(json_agg(json_build_object('host', host, 'reservedBytes', bytes) ORDER BY host), '[]')
         FROM (SELECT host, sum(reserved_bytes) AS bytes FROM placements WHERE container_id <> ${containerId} GROUP BY host) x) AS reserved,
      (SELECT coalesce(json_agg(json_build_object('containerId', container_id, 'containerName', container_name, 'host', host,
                'reservedBytes', reserved_bytes, 'scheduledVersion', scheduled_version)), '[]')
         FROM placements
         WHERE ${ownerRef ?? null}::text IS NOT NULL AND container_id <> ${containerId}
           AND (container_id = ${ownerRef ?? null} OR container_name = ${ownerRef ?? null} OR starts_with(container_id, ${ownerRef ?? ""}))) AS owners`.execute(trx);
  const row = r.rows[0]!;
  return {
    hosts: row.hosts.map((h) => ({ name: h.name, status: h.status, memoryBytes: Number(h.memoryBytes) })),
    reservedPerHost: row.reserved.map((x) => ({ containerId: `reserved-on:${x.host}`, host: x.host, reservedBytes: Number(x.reservedBytes) })),
    ownerCandidates: row.owners.map((o) => ({ ...o, reservedBytes: Number(o.reservedBytes) })),
  };
}

/**
 * The placed container a member's `container:<ref>` names: exact id, then exact name, then
 * a unique id prefix (as Docker resolves). Undefined when no placed container matches.
 */
export function resolvePlacedOwner(placed: readonly PlacementRow[], ref: string): PlacementRow | undefined {
  const byId = placed.find((p) => p.containerId === ref);
  if (byId) return byId;
  const byName = placed.find((p) => p.containerName === ref);
  if (byName) return byName;
  const byPrefix = placed.filter((p) => p.containerId.startsWith(ref));
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

export async function resetTables(trx: Db): Promise<void> {
  await sql`DELETE FROM hosts`.execute(trx);
  await sql`DELETE FROM placements`.execute(trx);
}
