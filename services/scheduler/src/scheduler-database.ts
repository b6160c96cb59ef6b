/**
 * The scheduler's tables as kysely sees them, beside the event store's (it appends and
 * records processed events). Migrations 0200 to 0203 are the truth for the columns; no
 * other service reads or writes these tables (the api keeps its own hosts projection).
 */
import type { HostCapabilities } from "@shoal/domain";
import type { Generated } from "kysely";
import type { EventStoreDatabase, Int8Column, JsonColumn, Nullable, TimestampColumn } from "@shoal/event-store";

/** One row per registered host, following its newest registration (0200). */
export interface HostsTable {
  name: string;
  status: "ready" | "lost";
  capabilities: JsonColumn<HostCapabilities>;
  memory_bytes: Int8Column;
  /** CPUs the registration offers, in nano-CPUs; NULL when it reported none (0202). */
  nano_cpus: Nullable<Int8Column>;
  /** 0203: `shoal host drain` in force. */
  draining: Generated<boolean>;
  /** Names the registration in force (HostRegistered's `registeredAt`). */
  registered_at: TimestampColumn;
  /** Written from core-NATS heartbeats (at most once a second); NULL until the first one after the registration. */
  last_heartbeat: Nullable<TimestampColumn>;
  lost_at: Nullable<TimestampColumn>;
  lost_reason: string | null;
}

/** The containers holding a reservation on a host (0201), from ContainerScheduled to their release. */
export interface PlacementsTable {
  container_id: string;
  container_name: string;
  host: string;
  /** Memory plus the shm tmpfs the container brought (a group's shm counts on its owner). */
  reserved_bytes: Int8Column;
  /** The CPUs (`--cpus`, nano-CPUs) the container holds; 0 for rows made before 0202. */
  reserved_nano_cpus: Int8Column;
  /** Stream version of the ContainerScheduled that made the row; a release deletes only older ones. */
  scheduled_version: number;
  scheduled_at: TimestampColumn;
}

export interface SchedulerDatabase extends EventStoreDatabase {
  hosts: HostsTable;
  placements: PlacementsTable;
}
