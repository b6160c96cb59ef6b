/**
 * `shoal.v1.Config`: Show / Set / Reload of the daemon config aggregate (`config-daemon`
 * stream, @shoal/config's decider) through handleCommand.
 *
 * - Every accepted change appends one DaemonConfigChanged with version = previous + 1.
 * - A request that leaves the config as it is appends nothing: `changed` is false and the
 *   version stays.
 * - An invalid config is INVALID_ARGUMENT naming every bad key; nothing is appended and
 *   the previous config stays in force. ABORTED only if concurrent changes kept winning
 *   after the retries; UNAVAILABLE when Postgres is not reachable.
 */
import { randomUUID } from "node:crypto";
import type { Server, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import type { Logger } from "pino";
import {
  CONFIG_EVENT_SCHEMA_VERSIONS,
  DAEMON_CONFIG_STREAM,
  configDecider,
  createConfigSnapshot,
  formatDaemonConfig,
} from "@shoal/config";
import type { ConfigCommand, ConfigEvent, ConfigSnapshot, ConfigState } from "@shoal/config";
import { InternalError } from "@shoal/domain";
import { handleCommand, loadStream } from "@shoal/event-store";
import type { EventStore } from "@shoal/event-store";
import { unaryCall } from "../events/request-metrics";
import type { RequestMetrics } from "../events/request-metrics";

export interface ConfigServiceDeps {
  /** `proto/shoal/v1/*.proto` loaded with @grpc/proto-loader, `keepCase: false`; must contain `shoal.v1.Config`. */
  packageDefinition: PackageDefinition;
  store: EventStore;
  logger?: Logger;
  /** Counts requests as `Config/<Method>` (the api's shoal_api_requests_total and duration histogram fit). */
  metrics?: RequestMetrics;
  /** Told after a change was recorded (e.g. to swap the api's own config holder before the log is tailed). */
  onChanged?: (snapshot: ConfigSnapshot) => void;
  /** The time written on changes (ISO-8601 `changedAt`); default the wall clock. */
  now?: () => Date;
}

/** ConfigResponse: the version, the canonical daemon.json text and whether this request changed it. */
export interface ConfigResponse {
  version: number;
  configJson: string;
  changed: boolean;
}

/**
 * The config in force: the `config-daemon` stream folded with the config decider
 * (version 0 and the built-in defaults when it is empty). UnavailableError when Postgres
 * is not reachable.
 */
export async function loadConfigSnapshot(store: EventStore): Promise<ConfigSnapshot> {
  const state = await readConfigState(store);
  return createConfigSnapshot(state.version, state.config);
}

/** The canonical daemon.json text of a config (2-space indented, keys sorted). */
export function canonicalConfigJson(state: Pick<ConfigState, "config">): string {
  return JSON.stringify(formatDaemonConfig(state.config), null, 2);
}

/** Adds `shoal.v1.Config` to `server`, using the package definition passed in (it loads nothing itself). */
export function registerConfigService(server: Server, deps: ConfigServiceDeps): void {
  const definition = deps.packageDefinition["shoal.v1.Config"] as ServiceDefinition | undefined;
  if (definition === undefined) throw new InternalError("the package definition has no shoal.v1.Config service");
  const now = deps.now ?? (() => new Date());

  const change = async (command: ConfigCommand): Promise<ConfigResponse> => {
    const result = await handleCommand<ConfigState, ConfigCommand, ConfigEvent>(deps.store, {
      streamId: DAEMON_CONFIG_STREAM,
      decider: configDecider,
      command,
      eventId: () => randomUUID(),
      schemaVersion: (type) => CONFIG_EVENT_SCHEMA_VERSIONS[type],
      metadata: { correlationId: randomUUID(), actor: "api" },
    });
    const changed = result.appended.length > 0;
    if (changed) {
      deps.logger?.info({ version: result.state.version, source: command.type }, "daemon config changed");
      deps.onChanged?.(createConfigSnapshot(result.state.version, result.state.config));
    }
    return { version: result.state.version, configJson: canonicalConfigJson(result.state), changed };
  };

  const implementation: UntypedServiceImplementation = {
    ShowConfig: unaryCall("Config/ShowConfig", deps, async () => {
      const state = await readConfigState(deps.store);
      return { version: state.version, configJson: canonicalConfigJson(state), changed: false };
    }),
    SetConfig: unaryCall("Config/SetConfig", deps, (req: { assignments?: string[] }) =>
      change({ type: "SetConfig", data: { assignments: req.assignments ?? [], now: now().toISOString() } }),
    ),
    ReloadConfig: unaryCall("Config/ReloadConfig", deps, (req: { configJson?: string }) =>
      change({ type: "ReloadConfig", data: { config: req.configJson ?? "", now: now().toISOString() } }),
    ),
  };
  server.addService(definition, implementation);
}

async function readConfigState(store: EventStore): Promise<ConfigState> {
  return (await loadStream(store, DAEMON_CONFIG_STREAM, configDecider)).state;
}
