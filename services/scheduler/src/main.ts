import pino from "pino";
import { readSchedulerConfig } from "./config";
import { startScheduler } from "./start-scheduler";

// Wiring only: read the environment, start the scheduler, stop it on SIGTERM/SIGINT.
const log = pino({ name: "scheduler" }, pino.destination(2));
const config = readSchedulerConfig();
const scheduler = await startScheduler({ ...config, logger: log });
log.info({ metricsPort: scheduler.metricsPort }, "scheduler ready");

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    scheduler.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "unclean shutdown");
        process.exit(1);
      },
    );
  });
}
