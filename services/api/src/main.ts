/** The api process: read the environment, start, stop cleanly on SIGTERM/SIGINT. */
import { pino } from "pino";
import { readApiConfig } from "./config";
import { startApi } from "./start-api";

const config = readApiConfig();
const logger = pino({ name: "shoal-api", level: config.logLevel });
try {
  const api = await startApi({
    databaseUrl: config.databaseUrl,
    natsUrl: config.natsUrl,
    prefix: config.prefix,
    apiAddr: config.apiAddr,
    metricsPort: config.metricsPort,
    ...(config.protoDir !== "" ? { protoDir: config.protoDir } : {}),
    logger,
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    api.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "stop failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
} catch (err) {
  logger.fatal({ err }, "api could not start");
  process.exit(1);
}
