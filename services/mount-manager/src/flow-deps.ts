import type { Kysely } from "kysely";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "pino";
import type { EventStore, ProjectionRunner } from "@shoal/event-store";
import type { KeyedMutex } from "./keyed-mutex";
import type { MountManagerMetrics } from "./metrics";
import type { MountManagerDatabase } from "./mount-manager-database";

/** What the mount-manager's flows (prepare, release, reconcile) work with. */
export interface FlowDeps {
  db: Kysely<MountManagerDatabase>;
  store: EventStore;
  /** The `mount-manager` projection; `catchUp()` before reading its tables. */
  projection: ProjectionRunner;
  nc: NatsConnection;
  prefix: string;
  /** Keyed by owner id: a group's mount, joins, leaves and unmount never interleave. */
  locks: KeyedMutex;
  metrics: MountManagerMetrics;
  log: Logger;
  hostCommandTimeoutMs: number;
  /** ISO-8601 time for commands. */
  now(): string;
}
