import { readEnvInteger } from "@shoal/config";

/** The scheduler's settings from the environment (see README.md). */
export interface SchedulerConfig {
  databaseUrl: string;
  natsUrl: string;
  subjectPrefix: string;
  metricsPort: number;
  /** Undefined: the scheduler machine's total memory. */
  defaultHostMemoryBytes: number | undefined;
  livenessCheckIntervalMs: number;
}

/** Reads SHOAL_* variables; InvalidArgumentError naming the variable when one is malformed. */
export function readSchedulerConfig(env: NodeJS.ProcessEnv = process.env): SchedulerConfig {
  return {
    databaseUrl: env.SHOAL_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/shoal",
    natsUrl: env.SHOAL_NATS_URL || "nats://127.0.0.1:4222",
    subjectPrefix: env.SHOAL_SUBJECT_PREFIX || "shoal",
    metricsPort: readEnvInteger(env, "SHOAL_METRICS_PORT", 9421, 0, 65535),
    defaultHostMemoryBytes: env.SHOAL_SCHEDULER_DEFAULT_HOST_MEMORY_BYTES
      ? readEnvInteger(env, "SHOAL_SCHEDULER_DEFAULT_HOST_MEMORY_BYTES", 0, 0, Number.MAX_SAFE_INTEGER)
      : undefined,
    livenessCheckIntervalMs: readEnvInteger(env, "SHOAL_SCHEDULER_LIVENESS_CHECK_MS", 1000, 10, 3_600_000),
  };
}

