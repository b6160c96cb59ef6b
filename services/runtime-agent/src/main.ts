import { connect } from "@nats-io/transport-node";
import pino from "pino";
import { startAgent } from "./agent";
import { readAgentConfig } from "./config";

// Wiring only: read the environment, connect NATS, start the agent, stop it on SIGTERM/SIGINT.
const config = readAgentConfig();
const log = pino({ name: "runtime-agent", base: { host: config.host } }, pino.destination(2));
const nc = await connect({ servers: config.natsUrl, name: `shoal-agent-${config.host}`, maxReconnectAttempts: -1 });
const agent = await startAgent({
  host: config.host,
  nc,
  subjectPrefix: config.subjectPrefix,
  containerdSocket: config.containerdSocket,
  stateRoot: config.stateRoot,
  runDir: config.runDir,
  metricsPort: config.metricsPort,
  heartbeatIntervalMs: config.heartbeatIntervalMs,
  capacity: config.capacity,
  logger: log,
});
log.info({ metricsPort: agent.metricsPort }, "runtime agent ready");

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void agent
      .stop()
      .then(() => nc.drain())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, "unclean shutdown");
          process.exit(1);
        },
      );
  });
}
