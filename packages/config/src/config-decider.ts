/**
 * The daemon config aggregate: one stream (DAEMON_CONFIG_STREAM) whose events are the
 * config's versions. Pure: the time arrives on the command.
 *
 * - Version 0 is the built-in default config (the stream is empty). Each change is one
 *   DaemonConfigChanged with `version = previous + 1`; the api appends it with the
 *   state's version as the expected stream version, so concurrent changes are ABORTED.
 * - An invalid config (set or reload) throws InvalidArgumentError listing every bad
 *   key, and there is no event: the previous config stays in force.
 * - A set or reload that leaves the config equal to the current one (same canonical
 *   daemon.json) is accepted and records nothing: `decide` returns `[]` and the version
 *   does not move. Clients see "unchanged", not an error.
 */
import { DAEMON_CONFIG_STREAM_ID, InvalidArgumentError } from "@shoal/domain";
import type { Decider, DomainCommand, DomainEvent } from "@shoal/domain";
import { applyConfigSet, daemonConfigEquals, defaultDaemonConfig, parseDaemonConfig, parseDaemonConfigText } from "./daemon-config";
import type { DaemonConfig } from "./daemon-config";

/** The id of the config aggregate's one event stream. */
export const DAEMON_CONFIG_STREAM = DAEMON_CONFIG_STREAM_ID;

/** `shoal config set KEY=VALUE…`; see applyConfigSet for the value syntax. `now` is ISO-8601. */
export type SetConfig = DomainCommand<"SetConfig", { assignments: string[]; now: string }>;

/**
 * `shoal config reload --file daemon.json`: replace the whole config. `config` is the
 * parsed daemon.json value, or its text (a string is parsed as JSON first). Keys it
 * leaves out take their defaults, not their current values.
 */
export type ReloadConfig = DomainCommand<"ReloadConfig", { config: unknown; now: string }>;

export type ConfigCommand = SetConfig | ReloadConfig;

/**
 * A new config version. `config` is the complete config with every default filled in
 * (plain JSON). Wire contract: add fields, never change their meaning.
 */
export type DaemonConfigChanged = DomainEvent<
  "DaemonConfigChanged",
  { version: number; previousVersion: number; config: DaemonConfig; source: "set" | "reload"; changedAt: string }
>;

export type ConfigEvent = DaemonConfigChanged;

export const CONFIG_EVENT_SCHEMA_VERSIONS: Readonly<Record<ConfigEvent["type"], number>> = { DaemonConfigChanged: 1 };

/** The config in force and its version; `createConfigSnapshot(s.version, s.config)` makes it a snapshot. */
export type ConfigState = Readonly<{ version: number; config: DaemonConfig }>;

export function initialState(): ConfigState {
  return { version: 0, config: defaultDaemonConfig() };
}

/** Refusals: InvalidArgumentError for an invalid config or an empty `assignments` list. */
export function decide(command: ConfigCommand, state: ConfigState): ConfigEvent[] {
  let next: DaemonConfig;
  let source: DaemonConfigChanged["data"]["source"];
  switch (command.type) {
    case "SetConfig":
      if (command.data.assignments.length === 0) {
        throw new InvalidArgumentError("config set needs at least one KEY=VALUE");
      }
      next = applyConfigSet(state.config, command.data.assignments);
      source = "set";
      break;
    case "ReloadConfig":
      next =
        typeof command.data.config === "string"
          ? parseDaemonConfigText(command.data.config)
          : parseDaemonConfig(command.data.config);
      source = "reload";
      break;
    default:
      return assertNever(command);
  }
  if (daemonConfigEquals(next, state.config)) return [];
  return [
    {
      type: "DaemonConfigChanged",
      data: { version: state.version + 1, previousVersion: state.version, config: next, source, changedAt: command.data.now },
    },
  ];
}

/**
 * Folds a recorded change in. Never refuses: a recorded config is taken as is, with
 * defaults filled in for keys an older event did not have.
 */
export function evolve(state: ConfigState, event: ConfigEvent): ConfigState {
  switch (event.type) {
    case "DaemonConfigChanged":
      return { version: event.data.version, config: { ...defaultDaemonConfig(), ...event.data.config } };
    default:
      return assertNever(event.type);
  }
}

export const configDecider: Decider<ConfigState, ConfigCommand, ConfigEvent> = { decide, evolve, initialState };

/**
 * The config of version `version`, from the config stream's events (read-copy-update: a
 * start uses the snapshot it was requested under, however the config moved since). Each
 * change carries the whole config, so this is that one event folded onto the defaults.
 * Undefined when the events hold no such version (version 0 is the defaults).
 */
export function configStateAt(events: readonly { type: string; data: unknown }[], version: number): ConfigState | undefined {
  if (version === 0) return initialState();
  const change = events.find((e) => e.type === "DaemonConfigChanged" && (e.data as DaemonConfigChanged["data"]).version === version);
  return change === undefined ? undefined : evolve(initialState(), change as DaemonConfigChanged);
}

function assertNever(x: never): never {
  throw new Error(`unexpected: ${JSON.stringify(x)}`);
}
