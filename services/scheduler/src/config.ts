import { InvalidArgumentError } from "@shoal/domain";

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
    metricsPort: integer(env, "SHOAL_METRICS_PORT", 9421, 0, 65535),
    defaultHostMemoryBytes: env.SHOAL_SCHEDULER_DEFAULT_HOST_MEMORY_BYTES
      ? integer(env, "SHOAL_SCHEDULER_DEFAULT_HOST_MEMORY_BYTES", 0, 0, Number.MAX_SAFE_INTEGER)
      : undefined,
    livenessCheckIntervalMs: integer(env, "SHOAL_SCHEDULER_LIVENESS_CHECK_MS", 1000, 10, 3_600_000),
  };
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}
