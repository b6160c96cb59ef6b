/**
 * Starts the api in this process: migrations, the JetStream streams, the outbox relay
 * (one per stack, here), the config holder, the containers and hosts projections, the
 * heartbeat recorder, the start dispatcher, the report recorder, the removal worker, the
 * gRPC server and /metrics.
 * `stop()` undoes all of it in reverse order and leaves nothing running.
 */
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { pino } from "pino";
import type { Logger } from "pino";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createJetStreamEventPublisher, ensureStreams } from "@shoal/bus";
import type { DurableConsumer } from "@shoal/bus";
import { UnavailableError } from "@shoal/domain";
import { FOLLOWER_SETTLE_MS, createEventStore, createOutboxRelay, migrateToLatest } from "@shoal/event-store";
import type { OutboxRelay } from "@shoal/event-store";
import type { ApiContext, ApiTimeouts } from "./api-context";
import type { ApiDatabase } from "./api-database";
import { createContainerWatcher } from "./container-watcher";
import type { ContainerWatcher } from "./container-watcher";
import { createContainersProjection } from "./containers-projection";
import { createCheckpointsProjection } from "./checkpoints/checkpoints-projection";
import { createHostsProjection, startHeartbeatRecorder } from "./hosts/index";
import { startDaemonConfigSource } from "./daemon-config-source";
import { serveMetrics } from "@shoal/metrics";
import { createApiMetrics } from "./metrics";
import { startRemovalWorker } from "./removal-worker";
import { startReportRecorder } from "./report-recorder";
import { resolveProtoDir, startApiServer } from "./server";
import { startDispatcher } from "./start-dispatcher";
import { startRestarter } from "./restarter";

export interface StartApiOptions {
  databaseUrl: string;
  natsUrl: string;
  /** Subject prefix (and stream name prefix). */
  prefix: string;
  /** gRPC `host:port`; port 0 picks a free port. */
  apiAddr: string;
  /** Port for /metrics on 127.0.0.1; undefined: not served. */
  metricsPort?: number;
  /** Folder holding `shoal/v1/*.proto`; default resolveProtoDir(). */
  protoDir?: string;
  /** Run the outbox relay in this process (default true; exactly one per stack). */
  runOutboxRelay?: boolean;
  logger?: Logger;
  timeouts?: Partial<ApiTimeouts>;
}

export interface RunningApi {
  /** The bound gRPC address. */
  address: string;
  /** The bound metrics port, when served. */
  metricsPort: number | undefined;
  stop(): Promise<void>;
}

export async function startApi(options: StartApiOptions): Promise<RunningApi> {
  const logger = options.logger ?? pino({ name: "shoal-api" });
  const undo: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const u of undo.reverse()) await u().catch((err: unknown) => logger.warn({ err }, "stop step failed"));
    undo.length = 0;
  };
  try {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10 });
    const db = new Kysely<ApiDatabase>({ dialect: new PostgresDialect({ pool }) });
    undo.push(() => db.destroy());
    await migrateToLatest(db);

    const nc = await connect({ servers: options.natsUrl, name: "shoal-api", timeout: 5_000 }).catch((err: unknown) => {
      throw new UnavailableError(`NATS is not answering at ${options.natsUrl}`, { cause: err });
    });
    undo.push(() => nc.drain());
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm, options.prefix);

    const publisher = createJetStreamEventPublisher(js, { prefix: options.prefix });
    // Every service publishes its own commits at once (eager publish); the relay publishes what
    // they did not (a failed publish, a crash after commit), after a short settle so it stays
    // off their path.
    // What this api commits reaches its own waiting RPCs at once, then JetStream.
    let watcher: ContainerWatcher | undefined;
    const store = createEventStore({
      db,
      publisher: {
        publish(event) {
          watcher?.deliver(event);
          return publisher.publish(event);
        },
      },
      logger,
    });
    if (options.runOutboxRelay !== false) {
      const relay: OutboxRelay = createOutboxRelay({ pool, publisher, logger, settleMs: FOLLOWER_SETTLE_MS });
      await relay.start();
      undo.push(() => relay.stop());
    }

    const configSource = await startDaemonConfigSource({ store, nc, prefix: options.prefix, logger });
    undo.push(() => configSource.close());

    const projection = createContainersProjection({ db, pool, logger });
    await projection.start();
    undo.push(() => projection.stop());

    const hostsProjection = createHostsProjection({ db, pool, logger });
    await hostsProjection.start();
    undo.push(() => hostsProjection.stop());
    const checkpointsProjection = createCheckpointsProjection({ db, pool, logger });
    await checkpointsProjection.start();
    undo.push(() => checkpointsProjection.stop());
    const heartbeats = startHeartbeatRecorder({ db, nc, prefix: options.prefix, logger });
    undo.push(() => heartbeats.stop());

    watcher = await createContainerWatcher({ nc, prefix: options.prefix, store });
    undo.push(() => watcher!.close());

    const metrics = createApiMetrics();
    const ctx: ApiContext = {
      db,
      store,
      nc,
      prefix: options.prefix,
      config: configSource.holder,
      refreshConfig: configSource.refresh,
      watcher,
      projection,
      hostsProjection,
      checkpointsProjection,
      logger,
      metrics,
      timeouts: { startMs: 120_000, hostCommandMs: 30_000, hostStartMs: 60_000, ...options.timeouts },
    };

    const consumers: DurableConsumer[] = [];
    undo.push(() => Promise.all(consumers.map((c) => c.stop())));
    consumers.push(...(await startDispatcher(ctx, js, jsm)));
    consumers.push(await startReportRecorder(ctx, js, jsm));
    consumers.push(await startRemovalWorker(ctx, js, jsm));
    consumers.push(await startRestarter(ctx, js, jsm));

    const server = await startApiServer({ ctx, address: options.apiAddr, protoDir: options.protoDir ?? resolveProtoDir(), js, jsm });
    undo.push(() => server.stop());

    let metricsPort: number | undefined;
    if (options.metricsPort !== undefined) {
      const m = await serveMetrics(metrics.registry, options.metricsPort, "127.0.0.1");
      metricsPort = m.port;
      undo.push(() => m.close());
    }
    logger.info({ address: server.address, metricsPort, prefix: options.prefix }, "api started");
    return { address: server.address, metricsPort, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
