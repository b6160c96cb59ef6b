// Wires the mount-manager process: environment → Postgres + NATS → startMountManager;
// SIGTERM/SIGINT stop it cleanly (the message in flight is finished and acked first).
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import pino from "pino";
import { connect } from "@nats-io/transport-node";
import { readMountManagerConfig } from "./config";
import { startMountManager } from "./mount-manager";
import type { MountManagerDatabase } from "./mount-manager-database";

let log = pino({ name: "mount-manager" });

async function main(): Promise<void> {
  const config = readMountManagerConfig();
  log = pino({ name: "mount-manager", level: config.logLevel });
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 5 });
  const db = new Kysely<MountManagerDatabase>({ dialect: new PostgresDialect({ pool }) });
  const nc = await connect({ servers: config.natsUrl, name: "shoal-mount-manager" });
  const service = await startMountManager({
    db,
    pool,
    nc,
    prefix: config.subjectPrefix,
    metricsPort: config.metricsPort,
    reconcileIntervalMs: config.reconcileIntervalMs,
    hostCommandTimeoutMs: config.hostCommandTimeoutMs,
    ackWaitMs: config.ackWaitMs,
    logger: log,
  });
  log.info({ metricsPort: service.metricsPort, prefix: config.subjectPrefix }, "mount-manager started");

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "mount-manager stopping");
    void (async () => {
      await service.stop();
      await nc.drain();
      await db.destroy();
    })().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "unclean stop");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((err: unknown) => {
  log.error({ err: err instanceof Error ? { type: err.name, message: err.message } : err }, "mount-manager failed to start");
  process.exit(1);
});
