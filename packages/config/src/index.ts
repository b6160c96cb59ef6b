export {
  BUILTIN_RUNTIME_NAME,
  DAEMON_CONFIG_KEYS,
  applyConfigSet,
  daemonConfigEquals,
  defaultDaemonConfig,
  formatDaemonConfig,
  parseDaemonConfig,
  parseDaemonConfigText,
} from "./daemon-config";
export type { DaemonConfig, DaemonConfigJson, DaemonConfigKey, RuntimeConfig } from "./daemon-config";
export { createConfigHolder, createConfigSnapshot } from "./config-snapshot";
export type { ConfigChangeListener, ConfigHolder, ConfigSnapshot, SwapResult } from "./config-snapshot";
