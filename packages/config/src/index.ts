export {
  BUILTIN_RUNTIME_NAME,
  DAEMON_CONFIG_KEYS,
  applyConfigSet,
  daemonConfigEquals,
  defaultDaemonConfig,
  formatDaemonConfig,
  isRootfsAllowed,
  isUnderAllowedRoots,
  parseDaemonConfig,
  parseDaemonConfigText,
} from "./daemon-config";
export type { DaemonConfig, DaemonConfigJson, DaemonConfigKey, RuntimeConfig } from "./daemon-config";
export { createConfigHolder, createConfigSnapshot } from "./config-snapshot";
export type { ConfigChangeListener, ConfigHolder, ConfigSnapshot, SwapResult } from "./config-snapshot";
export {
  CONFIG_EVENT_SCHEMA_VERSIONS,
  DAEMON_CONFIG_STREAM,
  configDecider,
  configStateAt,
  decide as decideConfig,
  evolve as evolveConfig,
  initialState as initialConfigState,
} from "./config-decider";
export type { ConfigCommand, ConfigEvent, ConfigState, DaemonConfigChanged, ReloadConfig, SetConfig } from "./config-decider";
export {
  isWrapperFileName,
  planStaleWrapperRemoval,
  resolveRuntime,
  wrapperFileName,
  wrapperFileNamesOf,
  wrapperScript,
  wrapperSha,
} from "./runtime-wrappers";
export type { ResolvedRuntime, StaleWrapperInput, StaleWrapperPlan } from "./runtime-wrappers";
export { createWrapperStore } from "./wrapper-store";
export type { WrapperFs, WrapperStore, WrapperStoreOptions } from "./wrapper-store";
export { readEnvInteger } from "./env-integer";
