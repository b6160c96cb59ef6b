/**
 * Runs the scheduler: first the active-scheduler lock (a second instance stands by there),
 * then the `scheduler` projection (hosts, placements) caught up completely, the capacity
 * view loaded from it, three durable consumers, the heartbeat subscription, the liveness
 * tick and the metrics endpoint. See README.md for the flows.
 */
import { totalmem } from "node:os";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import pino from "pino";
import type { Logger as PinoLogger } from "pino";
import { InvalidArgumentError, UnavailableError } from "@shoal/domain";
import {
  createJetStreamEventPublisher,
  createIdempotentHandler,
  createPostgresProcessedEventStore,
  decodeEventMessage,
  decodeHostReport,
  ensureStreams,
  eventSubject,
  eventsFilter,
  parseHostSubject,
  startDurableConsumer,
  startDurableConsumersBySubject,
  subscribeHeartbeats,
  watchNatsLink,
} from "@shoal/bus";
import type { DurableConsumer } from "@shoal/bus";
import { createEventStore, globalCursorStart } from "@shoal/event-store";
import type { EventStore, Logger, ProjectionRunner } from "@shoal/event-store";
import { REPORT_TYPES } from "@shoal/host-protocol";
import { acquireActiveLock } from "./active-lock";
import { createCapacityView } from "./capacity-view";
import { createHostRegistry, HOST_LOST_DURABLE, HOSTS_DURABLE } from "./host-registry";
import { createHostReconciler } from "./host-reconciler";
import { serveMetrics } from "@shoal/metrics";
import { createSchedulerMetrics } from "./metrics";
import { createPlacementHandler, PLACEMENT_DURABLE, PLACEMENT_EVENT_TYPES } from "./placement-consumer";
import { createDaemonConfigReader } from "./daemon-config";
import type { SchedulerDatabase } from "./scheduler-database";
import { createSchedulerProjection } from "./scheduler-projection";
import { listHosts, listPlacements } from "./scheduler-tables";

export interface SchedulerOptions {
  databaseUrl: string;
  natsUrl: string;
  /** First token of every subject and the streams' name prefix. */
  subjectPrefix: string;
  /** Serve `/metrics` on this port (0: any free port); absent: no metrics server. */
  metricsPort?: number;
  /**
   * Memory assumed for a host whose HostRegistered report carries no `memoryBytes`
   * (in the payload or its capabilities). Default: this machine's total memory — exact
   * for the one-machine stack, a guess for other hosts until agents report theirs.
   */
  defaultHostMemoryBytes?: number;
  /**
   * How often the `scheduler` projection applies new events to `hosts` and `placements`
   * (default 1000 ms): readers of the tables lag by up to this much; placement does not.
   */
  projectionCatchUpMs?: number;
  /** How often hosts are checked against `heartbeat-timeout` (default 1000 ms). */
  livenessCheckIntervalMs?: number;
  /** How often every ready host gets a fencing Reconcile (default 30 000 ms); each registration gets one at once. */
  reconcileIntervalMs?: number;
  logger?: PinoLogger;
  /** The clock (tests). */
  now?: () => Date;
  /** Gives up standing by for the active-scheduler lock: `startScheduler` then rejects with UnavailableError. */
  signal?: AbortSignal;
  /**
   * Called once if the active-scheduler lock's connection fails after it was taken. The
   * scheduler has stopped deciding by then (every further placement throws UnavailableError
   * and its message is redelivered); the caller must stop it and exit (`main.ts` exits with
   * status 1, so a supervisor restarts it as a standby). Default: the scheduler stops itself.
   */
  onActiveLockLost?: (err: Error) => void;
}

export interface Scheduler {
  /** The bound metrics port, when serving. */
  readonly metricsPort: number | undefined;
  /**
   * Stops the tick, the consumers (finishing the message in hand), the projection and the
   * metrics server, then closes NATS and Postgres. Idempotent.
   */
  stop(): Promise<void>;
}

/**
 * Messages a killed scheduler had pulled come back after the ack wait. Handlers take
 * milliseconds, so 5 s (not the bus default of 30 s) bounds the stall after a kill -9;
 * a copy redelivered while the first is still queued is recognised and changes nothing.
 */
const ACK_WAIT_MS = 5_000;

/**
 * Starts the scheduler. Resolves once it is the active scheduler of its database and
 * consuming: while another one holds the active-scheduler lock it stands by (logged).
 * Rejects with UnavailableError when Postgres or NATS/JetStream cannot be reached, when
 * `signal` aborts the wait, or when the lock is lost while starting; nothing is left
 * running then. The database must be migrated.
 */
export async function startScheduler(options: SchedulerOptions): Promise<Scheduler> {
  const logger = options.logger ?? pino({ name: "scheduler" }, pino.destination(2));
  const now = options.now ?? (() => new Date());
  const prefix = options.subjectPrefix;
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      await c().catch((err: unknown) => logger.error({ err }, "error while stopping the scheduler"));
    }
  };

  try {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 6 });
    const db = new Kysely<SchedulerDatabase>({ dialect: new PostgresDialect({ pool }) });
    cleanups.push(() => db.destroy());
    try {
      await pool.query("SELECT 1 FROM hosts LIMIT 0");
    } catch (err) {
      throw new UnavailableError(`scheduler database not ready at ${redact(options.databaseUrl)} (${(err as Error).message})`, { cause: err });
    }
    const lock = await acquireActiveLock({
      databaseUrl: options.databaseUrl,
      logger,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onLost: (err) => {
        if (options.onActiveLockLost !== undefined) options.onActiveLockLost(err);
        else void stopAll();
      },
    });
    cleanups.push(() => lock.release());
    const assertActive = () => lock.assertHeld();
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: options.natsUrl, name: "shoal-scheduler", maxReconnectAttempts: -1 });
    } catch (err) {
      throw new UnavailableError(`NATS is not answering at ${options.natsUrl}`, { cause: err });
    }
    cleanups.push(() => nc.drain());
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const streams = await ensureStreams(jsm, prefix);
    // Its ContainerScheduled reaches the mount-manager right after the commit, not via the relay.
    const store = createEventStore({ db, publisher: createJetStreamEventPublisher(js, { prefix }), logger });

    const metrics = createSchedulerMetrics(db);
    // The tables are the record the view is loaded from, and what readers see; off the start
    // path, the projection catches up on a timer in batches instead of once per appended event.
    const projection = createSchedulerProjection({ db, pool, store, logger });
    await catchUpCompletely(projection, store, logger);
    let catchingUp: Promise<void> | undefined;
    const projectionTimer = setInterval(() => {
      catchingUp ??= projection
        .catchUp()
        .then(
          () => undefined,
          (err: unknown) => logger.error({ err }, "scheduler projection catch-up failed"),
        )
        .finally(() => {
          catchingUp = undefined;
        });
    }, options.projectionCatchUpMs ?? 1_000);
    cleanups.push(async () => {
      clearInterval(projectionTimer);
      await catchingUp;
    });
    const view = createCapacityView({ hosts: await listHosts(db), placements: await listPlacements(db) });

    // This scheduler's own link to NATS, measured: no host is judged lost while it fails.
    const link = watchNatsLink(nc, { intervalMs: 1000, onLost: () => logger.warn({}, "scheduler cut off from NATS") });
    cleanups.push(async () => link.stop());
    const reconciler = createHostReconciler({
      db,
      store,
      nc,
      prefix,
      view,
      readyHosts: async () => (await listHosts(db)).filter((h) => h.status === "ready").map((h) => h.name),
      assertActive,
      logger,
      now,
    });
    const hosts = createHostRegistry({
      db,
      store,
      view,
      assertActive,
      logger,
      now,
      defaultHostMemoryBytes: options.defaultHostMemoryBytes ?? totalmem(),
      natsHealthy: () => link.healthy(),
      onRegistered: (host) => void reconciler.reconcileHost(host),
    });
    const heartbeats = subscribeHeartbeats(nc, {
      prefix,
      logger,
      onHeartbeat: (beat) => {
        hosts.onHeartbeat(beat.host);
        // The images the host holds (a placement preference): as its latest heartbeat says.
        const images = beat.details.images;
        if (Array.isArray(images)) view.setHostImages(beat.host, images.filter((i): i is string => typeof i === "string"));
      },
    });
    cleanups.push(() => heartbeats.stop());

    const consumers: DurableConsumer[] = [];
    cleanups.push(async () => {
      await Promise.all(consumers.map((c) => c.stop()));
    });
    consumers.push(
      await startDurableConsumer({
        js,
        jsm,
        stream: streams.reports,
        durableName: HOSTS_DURABLE,
        ackWaitMs: ACK_WAIT_MS,
        filterSubject: `${prefix}.host.*.report.${REPORT_TYPES.hostRegistered}`,
        logger,
        handler: async (msg) => {
          const report = decodeHostReport(msg);
          // The subject names the host; a body may not speak for another one.
          if (parseHostSubject(prefix, msg.subject)?.host !== report.host) {
            throw new InvalidArgumentError(`report ${report.reportId} on ${msg.subject} claims host ${report.host}`);
          }
          await hosts.onRegistrationReport(report);
        },
      }),
    );
    const placement = createPlacementHandler({ store, view, assertActive, metrics, logger, now, readConfig: createDaemonConfigReader(store) });
    // Only the types it acts on: the rest of a start's events cost the scheduler nothing.
    consumers.push(
      ...(await startDurableConsumersBySubject({
        js,
        jsm,
        stream: streams.events,
        durablePrefix: PLACEMENT_DURABLE,
        filterSubjects: PLACEMENT_EVENT_TYPES.map((type) => eventSubject(prefix, type)),
        legacyDurables: [PLACEMENT_DURABLE],
        ackWaitMs: ACK_WAIT_MS,
        logger,
        handler: async (msg) => {
          await placement(decodeEventMessage(msg));
        },
      })),
    );
    consumers.push(
      await startDurableConsumer({
        js,
        jsm,
        stream: streams.events,
        durableName: HOST_LOST_DURABLE,
        ackWaitMs: ACK_WAIT_MS,
        filterSubject: eventsFilter(prefix, "host"),
        logger,
        handler: createIdempotentHandler({
          store: createPostgresProcessedEventStore(db),
          consumer: HOST_LOST_DURABLE,
          handle: async (event) => {
            await hosts.onHostEvent(event);
          },
        }),
      }),
    );

    let ticking: Promise<void> | undefined;
    const tick = () => {
      ticking ??= hosts
        .checkLiveness()
        .then(
          () => undefined,
          (err: unknown) => logger.error({ err }, "liveness check failed"),
        )
        .finally(() => {
          ticking = undefined;
        });
    };
    const timer = setInterval(tick, options.livenessCheckIntervalMs ?? 1000);
    cleanups.push(async () => {
      clearInterval(timer);
      await ticking;
    });
    // Every host is reconciled (and fenced) periodically, besides at each registration.
    let reconciling: Promise<void> | undefined;
    const reconcileTimer = setInterval(() => {
      reconciling ??= reconciler.reconcileAll().finally(() => {
        reconciling = undefined;
      });
    }, options.reconcileIntervalMs ?? 30_000);
    cleanups.push(async () => {
      clearInterval(reconcileTimer);
      await reconciling;
    });

    let metricsPort: number | undefined;
    if (options.metricsPort !== undefined) {
      const server = await serveMetrics(metrics.registry, options.metricsPort, "127.0.0.1");
      metricsPort = server.port;
      cleanups.push(() => server.close());
    }

    assertActive(); // lost while starting: stop what was started
    logger.info({ prefix, metricsPort }, "scheduler started");
    let stopped: Promise<void> | undefined;
    return {
      metricsPort,
      stop() {
        stopped ??= stopAll();
        return stopped;
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * Applies every event committed before the call to the projection, including ones the
 * global order still holds back behind an older transaction: the capacity view loaded
 * after it must count every placement whose ContainerScheduled has committed (a previous
 * scheduler's last one, appended just before it was killed, too). Once a read finds
 * nothing held back, everything committed before it is released, so one more catch-up
 * applies it.
 */
async function catchUpCompletely(projection: ProjectionRunner, store: EventStore, logger: Logger): Promise<void> {
  const began = Date.now();
  let warned = false;
  for (;;) {
    const { withheld } = await store.readAll({ after: globalCursorStart, limit: 1 });
    await projection.catchUp();
    if (!withheld) return;
    if (!warned && Date.now() - began > 5_000) {
      warned = true;
      logger.warn({}, "events are held back behind a long-running transaction: waiting for it before loading the capacity view");
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
}
