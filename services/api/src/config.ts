/** The api's settings from the environment; defaults are the local stack's. */
import { InvalidArgumentError } from "@shoal/domain";

export interface ApiConfig {
  databaseUrl: string;
  natsUrl: string;
  prefix: string;
  apiAddr: string;
  metricsPort: number;
  /** Empty: resolve from the repository (see resolveProtoDir). */
  protoDir: string;
  logLevel: string;
}

/** InvalidArgumentError naming the variable when a value is malformed. */
export function readApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const metricsPort = Number(env.SHOAL_METRICS_PORT ?? 9420);
  if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535) {
    throw new InvalidArgumentError(`SHOAL_METRICS_PORT must be a port number, got ${env.SHOAL_METRICS_PORT}`);
  }
  const apiAddr = env.SHOAL_API_ADDR ?? "127.0.0.1:7420";
  if (!/^.+:\d+$/.test(apiAddr)) throw new InvalidArgumentError(`SHOAL_API_ADDR must be host:port, got ${apiAddr}`);
  return {
    databaseUrl: env.SHOAL_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/shoal",
    natsUrl: env.SHOAL_NATS_URL ?? "nats://127.0.0.1:4222",
    prefix: env.SHOAL_SUBJECT_PREFIX ?? "shoal",
    apiAddr,
    metricsPort,
    protoDir: env.SHOAL_PROTO_DIR ?? "",
    logLevel: env.SHOAL_LOG_LEVEL ?? "info",
  };
}
