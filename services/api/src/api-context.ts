/**
 * What the api's handlers share: the stores, the bus, the config in force, and the
 * knobs tests turn. Built once by startApi; handlers never build their own.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import type { Kysely } from "kysely";
import type { Logger as PinoLogger } from "pino";
import { randomBytes, randomUUID } from "node:crypto";
import { CONTAINER_EVENT_SCHEMA_VERSIONS, containerDecider, containerStreamId } from "@shoal/domain";
import type { ContainerCommand, ContainerEvent, ContainerState, EventMetadata } from "@shoal/domain";
import { DAEMON_CONFIG_STREAM, configStateAt, createConfigSnapshot } from "@shoal/config";
import type { ConfigHolder, ConfigSnapshot } from "@shoal/config";
import { handleCommand } from "@shoal/event-store";
import type { EventStore, HandleCommandResult, ProjectionRunner } from "@shoal/event-store";
import { sendHostCommand } from "@shoal/bus";
import type { CommandName, CommandPayload } from "@shoal/host-protocol";
import type { ApiDatabase } from "./api-database";
import type { ContainerWatcher } from "./container-watcher";
import type { ApiMetrics } from "./metrics";

export type ApiTimeouts = {
  /** How long StartContainer waits for ContainerStarted/ContainerStartFailed (default 120 000 ms). */
  startMs: number;
  /** Default answer time of a host command (default 30 000 ms). */
  hostCommandMs: number;
  /** How long StartContainer (the host command) may take on the agent (default 60 000 ms). */
  hostStartMs: number;
};

export interface ApiContext {
  db: Kysely<ApiDatabase>;
  store: EventStore;
  nc: NatsConnection;
  prefix: string;
  config: ConfigHolder;
  /** Re-reads the config stream and swaps the snapshot (after a DaemonConfigChanged). */
  refreshConfig(): Promise<void>;
  watcher: ContainerWatcher;
  /** The `containers` projection (`api-containers`); `catchUp()` before reading it. */
  projection: ProjectionRunner;
  /** The hosts projection (`api-hosts`: `api_hosts`, `api_placements`); `catchUp()` before reading it. */
  hostsProjection: ProjectionRunner;
  /** The checkpoints projection (`api-checkpoints`: `api_checkpoints`); `catchUp()` before reading it. */
  checkpointsProjection: ProjectionRunner;
  logger: PinoLogger;
  metrics: ApiMetrics;
  timeouts: ApiTimeouts;
}

/** A new container id: 64 random hex digits, as Docker's. */
export function newContainerId(): string {
  return randomBytes(32).toString("hex");
}

/** The time commands carry, ISO-8601. */
export function nowIso(): string {
  return new Date().toISOString();
}

/**
 * Runs one command on a container's stream (read → fold → decide → append). A user's
 * request gets random event ids; a caused one passes `eventIdOf` (derived ids).
 */
export function runContainerCommand(
  ctx: Pick<ApiContext, "store">,
  command: ContainerCommand,
  opts: { eventIdOf?: (index: number) => string; metadata?: EventMetadata } = {},
): Promise<HandleCommandResult<ContainerState, ContainerEvent>> {
  return handleCommand(ctx.store, {
    streamId: containerStreamId(command.data.containerId),
    decider: containerDecider,
    command,
    eventId: (_e, i) => (opts.eventIdOf ? opts.eventIdOf(i) : randomUUID()),
    schemaVersion: (type) => CONTAINER_EVENT_SCHEMA_VERSIONS[type],
    metadata: opts.metadata ?? { actor: "api" },
    // A caused command (derived ids) recorded before by another copy of its cause is done.
    ...(opts.eventIdOf ? { recordedAs: opts.eventIdOf(0) } : {}),
  });
}

/**
 * The config snapshot of `version` (a start's, read-copy-update): the one in force when it
 * is that version, else that version read from the config stream. Undefined `version` (a
 * start requested before starts carried one), or one the stream does not hold: the
 * snapshot in force.
 */
export async function configSnapshotAt(ctx: Pick<ApiContext, "config" | "store">, version: number | undefined): Promise<ConfigSnapshot> {
  const current = ctx.config.current();
  if (version === undefined || version === current.version) return current;
  const state = configStateAt(await ctx.store.readStream(DAEMON_CONFIG_STREAM), version);
  return state === undefined ? current : createConfigSnapshot(state.version, state.config);
}

/** Sends one command to a host's agent and returns its result (the agent's errors come back as the same ShoalError). */
export function hostCommand<C extends CommandName>(
  ctx: ApiContext,
  host: string,
  command: C,
  payload: CommandPayload<C>,
  timeoutMs = ctx.timeouts.hostCommandMs,
): Promise<any> {
  return sendHostCommand(ctx.nc, { prefix: ctx.prefix, host, command, payload, timeoutMs });
}
