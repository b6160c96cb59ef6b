import pino from "pino";
import { readSchedulerConfig } from "./config";
import { startScheduler } from "./start-scheduler";
import type { Scheduler } from "./start-scheduler";

// Wiring only: read the environment, start the scheduler (standing by while another one is
// active), stop it on SIGTERM/SIGINT. Losing the active-scheduler lock exits with status 1,
// so a supervisor starts it again, as a standby.
const log = pino({ name: "scheduler" }, pino.destination(2));
const config = readSchedulerConfig();
const standby = new AbortController();
let scheduler: Scheduler | undefined;
let exiting = false;

const exit = (code: number) => {
  if (exiting) return;
  exiting = true;
  standby.abort();
  const stopped = scheduler?.stop() ?? Promise.resolve();
  // A stop that hangs (Postgres gone) must not keep a scheduler without its lock alive.
  setTimeout(() => process.exit(code === 0 ? 1 : code), 10_000).unref();
  stopped.then(
    () => process.exit(code),
    (err: unknown) => {
      log.error({ err }, "unclean shutdown");
      process.exit(1);
    },
  );
};
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => exit(0));

try {
  scheduler = await startScheduler({
    ...config,
    logger: log,
    signal: standby.signal,
    onActiveLockLost: (err) => {
      log.fatal({ err }, "lost the active-scheduler lock: exiting");
      exit(1);
    },
  });
} catch (err) {
  if (!exiting) {
    log.fatal({ err }, "scheduler could not start");
    process.exit(1);
  }
}
// A signal (or the lock's loss) while starting has already exited.
if (!exiting) log.info({ metricsPort: scheduler!.metricsPort }, "scheduler ready");
