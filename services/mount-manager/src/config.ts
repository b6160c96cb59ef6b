import { readEnvInteger } from "@shoal/config";
import { InvalidArgumentError } from "@shoal/domain";

/** What the mount-manager process reads from its environment, checked once at start. */
export interface MountManagerEnvConfig {
  readonly databaseUrl: string;
  readonly natsUrl: string;
  readonly subjectPrefix: string;
  /** 0 picks a free port. */
  readonly metricsPort: number;
  readonly reconcileIntervalMs: number;
  readonly hostCommandTimeoutMs: number;
  readonly ackWaitMs: number;
  /** pino level name. */
  readonly logLevel: string;
}

/**
 * Reads SHOAL_DATABASE_URL, SHOAL_NATS_URL, SHOAL_SUBJECT_PREFIX, SHOAL_METRICS_PORT
 * (default 9422), SHOAL_RECONCILE_INTERVAL_MS (default 60000; 0 = only at start) and
 * SHOAL_HOST_COMMAND_TIMEOUT_MS (default 5000) and SHOAL_CONSUMER_ACK_WAIT_MS (default
 * 15000: how long a crashed instance's unacked message waits before redelivery), SHOAL_LOG_LEVEL
 * (default info: fatal, error, warn, info, debug, trace, silent). InvalidArgumentError naming the
 * variable when one is malformed.
 */
export function readMountManagerConfig(env: NodeJS.ProcessEnv = process.env): MountManagerEnvConfig {
  return {
    databaseUrl: env.SHOAL_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/shoal",
    natsUrl: env.SHOAL_NATS_URL ?? "nats://127.0.0.1:4222",
    subjectPrefix: env.SHOAL_SUBJECT_PREFIX ?? "shoal",
    metricsPort: readEnvInteger(env, "SHOAL_METRICS_PORT", 9422, 0, 65535),
    reconcileIntervalMs: readEnvInteger(env, "SHOAL_RECONCILE_INTERVAL_MS", 60_000, 0, 86_400_000),
    hostCommandTimeoutMs: readEnvInteger(env, "SHOAL_HOST_COMMAND_TIMEOUT_MS", 5_000, 1, 600_000),
    ackWaitMs: readEnvInteger(env, "SHOAL_CONSUMER_ACK_WAIT_MS", 15_000, 1_000, 3_600_000),
    logLevel: logLevel(env.SHOAL_LOG_LEVEL),
  };
}

const LOG_LEVELS = new Set(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);

function logLevel(text: string | undefined): string {
  if (text === undefined || text === "") return "info";
  if (!LOG_LEVELS.has(text)) throw new InvalidArgumentError(`SHOAL_LOG_LEVEL must be one of ${[...LOG_LEVELS].join(", ")}, got ${JSON.stringify(text)}`);
  return text;
}
