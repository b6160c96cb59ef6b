/**
 * The api's tables as kysely sees them, beside the event store's (the api appends and runs
 * the relay, so its database type extends the store's). Migrations 0100–0102 are the truth for
 * the columns; no other service reads or writes these tables.
 */
import type { Generated } from "kysely";
import type { CheckpointFacts, ContainerRunFacts, ContainerSource, ContainerStatus, HostCapabilities, HostConfig, IpcPlan, LockedInRuntime } from "@shoal/domain";
import type {
  Defaulted,
  EventStoreDatabase,
  Int8Column,
  JsonColumn,
  Nullable,
  TimestampColumn,
} from "@shoal/event-store";

/** The containers projection (`api-containers`, 0100): one row per container not yet removed, for Inspect and List. */
export interface ContainersTable {
  id: string;
  name: string;
  status: ContainerStatus;
  host: string | null;
  pid: number | null;
  exit_code: number | null;
  error: string | null;
  oom_killed: Generated<boolean>;
  /** 0104: automatic restarts since the last start by a user. */
  restart_count: Generated<number>;
  created_at: TimestampColumn;
  started_at: Nullable<TimestampColumn>;
  finished_at: Nullable<TimestampColumn>;
  host_config: JsonColumn<HostConfig>;
  source: JsonColumn<ContainerSource>;
  args: JsonColumn<string[]>;
  env: JsonColumn<string[]>;
  ipc_plan: Nullable<JsonColumn<IpcPlan>>;
  runtime: Nullable<JsonColumn<LockedInRuntime>>;
  config_version: number | null;
  ipc_namespace_inode: Nullable<Int8Column>;
  /** The owner of the IPC group the container is in (itself for a shareable owner). */
  ipc_owner_id: string | null;
  /** 0107: entrypoint, cmd, user and stop signal of the merged config (null: created before). */
  run: Nullable<JsonColumn<ContainerRunFacts>>;
  /** 0107: the working directory (null: the runtime's default, or created before). */
  cwd: string | null;
}

/** The checkpoints projection (`api-checkpoints`, 0106): one row per checkpoint a container has. */
export interface ApiCheckpointsTable {
  container_id: string;
  name: string;
  digest: string;
  facts: JsonColumn<CheckpointFacts>;
  replicated: Generated<boolean>;
  created_at: TimestampColumn;
}

/** Name (and id) reservations (0100), written with ContainerCreated, released with the removal. */
export interface ContainerNamesTable {
  name: string;
  container_id: string;
  reserved_at: Defaulted<TimestampColumn>;
}

/** ContainerOom reports per container incarnation (pid) (0100), so the exit that follows records oomKilled. */
export interface ContainerOomReportsTable {
  container_id: string;
  pid: number;
  reported_at: Defaulted<TimestampColumn>;
}

/** The output of `--rm` containers kept briefly after their removal (0101). */
export interface RemovedContainerOutputTable {
  container_id: string;
  output: Buffer;
  saved_at: Defaulted<TimestampColumn>;
}

/**
 * The hosts projection (`api-hosts`, 0102): one row per host that ever registered, following
 * its newest registration; `last_heartbeat` is written from core-NATS heartbeats, not events.
 */
export interface ApiHostsTable {
  name: string;
  status: "ready" | "lost";
  capabilities: JsonColumn<HostCapabilities>;
  memory_bytes: Int8Column;
  /** CPUs the registration in force offers, in nano-CPUs; NULL when it reported none (0103). */
  nano_cpus: Nullable<Int8Column>;
  /** 0105: `shoal host drain` in force. */
  draining: Generated<boolean>;
  /** Names the registration in force (HostRegistered's `registeredAt`). */
  registered_at: TimestampColumn;
  /** When this api last received a heartbeat of the registration in force; NULL before the first. */
  last_heartbeat: Nullable<TimestampColumn>;
}

/** The containers holding a reservation on a host (`api-hosts`, 0102), from ContainerScheduled to their release. */
export interface ApiPlacementsTable {
  container_id: string;
  host: string;
  reserved_bytes: Int8Column;
  /** ContainerScheduled's `reservedNanoCpus`; 0 for a placement recorded before the field (0103). */
  reserved_nano_cpus: Int8Column;
  /** Stream version of the ContainerScheduled that made the row; a release removes only older ones. */
  scheduled_version: number;
}

export interface ApiDatabase extends EventStoreDatabase {
  containers: ContainersTable;
  container_names: ContainerNamesTable;
  container_oom_reports: ContainerOomReportsTable;
  removed_container_output: RemovedContainerOutputTable;
  api_hosts: ApiHostsTable;
  api_placements: ApiPlacementsTable;
  api_checkpoints: ApiCheckpointsTable;
}
