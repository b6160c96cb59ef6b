import type { Kysely } from "kysely";
import type pg from "pg";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import pino from "pino";
import type { Logger } from "pino";
import {
  createJetStreamEventPublisher,
  createIdempotentHandler,
  createPostgresProcessedEventStore,
  decodeEventMessage,
  ensureStreams,
  eventSubject,
  eventsStreamName,
  startDurableConsumer,
  startDurableConsumersBySubject,
} from "@shoal/bus";
import type { DurableConsumer } from "@shoal/bus";
import { createEventStore } from "@shoal/event-store";
import { UnavailableError } from "@shoal/domain";
import { createIpcGroupProjection } from "./ipc-group-projection";
import { createKeyedMutex } from "./keyed-mutex";
import { serveMetrics } from "@shoal/metrics";
import { createMetrics } from "./metrics";
import type { MetricsServer } from "@shoal/metrics";
import { prepareIpc } from "./prepare-ipc";
import { reconcileOnce } from "./reconciler";
import type { ReconcileResult } from "./reconciler";
import { RELEASE_TRIGGERS, releaseAfter } from "./release-shm";
import type { FlowDeps } from "./flow-deps";
import type { MountManagerDatabase } from "./mount-manager-database";

/** Durable consumer names; no other service uses them. */
export const PREPARE_DURABLE = "mount-manager-prepare";
/** The release durables' prefix (one per RELEASE_TRIGGERS type) and the processed-events name they share. */
export const RELEASE_DURABLE = "mount-manager-release";

export interface MountManagerOptions {
  /** Migrated database (migrations 0300-… included). */
  db: Kysely<MountManagerDatabase>;
  /** The pool behind `db`; its options open the projection's LISTEN connection. */
  pool: pg.Pool;
  nc: NatsConnection;
  /** Subject prefix and stream name prefix (default deployment: `shoal`). */
  prefix: string;
  /** Serve `/metrics` here (0: any free port); undefined: no metrics server. */
  metricsPort?: number;
  /** Reconcile shm mounts this often; default 60 000 ms; 0: only at start and on `reconcile()`. */
  reconcileIntervalMs?: number;
  /** A message not acked this long (a crashed instance's) is redelivered; default 15 000 ms (longer than any handler: one host command plus a few queries). */
  ackWaitMs?: number;
  /** How long to wait for an agent's answer; default 5 000 ms. */
  hostCommandTimeoutMs?: number;
  logger?: Logger;
}

export interface MountManager {
  /** The port `/metrics` listens on, when a metrics server was asked for. */
  readonly metricsPort: number | undefined;
  /** Runs one reconciliation now (also what the timer runs). */
  reconcile(): Promise<ReconcileResult>;
  /** Stops the consumers (after the message in flight), the timer, the projection and the metrics server. */
  stop(): Promise<void>;
}

/**
 * Starts the mount-manager in this process: the `mount-manager` projection, the durable
 * consumers `mount-manager-prepare` (ContainerScheduled → IPC plan, the group and the
 * order to mount an owner's shm, ContainerIpcPrepared) and `mount-manager-release` (exits, failed starts, removals →
 * members leave, shm unmounted after the last user), and the reconcile timer (one run at
 * start, in the background). Creates the JetStream streams if they are missing.
 *
 * Errors: UnavailableError when Postgres or JetStream does not answer;
 * FailedPreconditionError when a durable exists with an incompatible configuration.
 */
export async function startMountManager(options: MountManagerOptions): Promise<MountManager> {
  const { db, pool, nc, prefix } = options;
  const log = options.logger ?? pino({ name: "mount-manager" });
  // Its ContainerIpcPrepared reaches the dispatcher right after the commit, not via the relay.
  const store = createEventStore({ db, publisher: createJetStreamEventPublisher(jetstream(nc), { prefix }), logger: log });
  const projection = createIpcGroupProjection({ db, pool, logger: log.child({ component: "projection" }) });
  const metrics = createMetrics(async () => {
    const r = await db
      .selectFrom("shm_mounts")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("state", "=", "mounted")
      .executeTakeFirstOrThrow();
    return Number(r.n);
  });
  const deps: FlowDeps = {
    db,
    store,
    projection,
    nc,
    prefix,
    locks: createKeyedMutex(),
    metrics,
    log,
    hostCommandTimeoutMs: options.hostCommandTimeoutMs ?? 5_000,
    now: () => new Date().toISOString(),
  };

  const js = jetstream(nc);
  let jsm;
  try {
    jsm = await jetstreamManager(nc);
  } catch (err) {
    throw new UnavailableError("JetStream is not answering (is nats-server running with -js?)", { cause: err });
  }
  await ensureStreams(jsm, prefix);
  await projection.start();

  const consumers: DurableConsumer[] = [];
  let metricsServer: MetricsServer | undefined;
  let timer: NodeJS.Timeout | undefined;
  let reconciling: Promise<ReconcileResult> | undefined;
  const reconcile = (): Promise<ReconcileResult> => {
    reconciling ??= reconcileOnce(deps).finally(() => (reconciling = undefined));
    return reconciling;
  };

  const stop = async (): Promise<void> => {
    if (timer !== undefined) clearInterval(timer);
    await Promise.all(consumers.map((c) => c.stop()));
    await reconciling?.catch(() => undefined);
    await projection.stop();
    await metricsServer?.close();
  };

  try {
    const processed = createPostgresProcessedEventStore(db);
    consumers.push(
      await startDurableConsumer({
        js,
        jsm,
        stream: eventsStreamName(prefix),
        durableName: PREPARE_DURABLE,
        ackWaitMs: options.ackWaitMs ?? 15_000,
        filterSubject: eventSubject(prefix, "ContainerScheduled"),
        logger: log,
        // Idempotent by the container's stream (derived ids, its state): no processed-events
        // round trip in front of every start.
        handler: async (msg) => {
          await prepareIpc(deps, decodeEventMessage(msg));
        },
      }),
    );
    // One durable per releasing type (`mount-manager-release-<Type>`): the rest of a start's
    // events cost the mount-manager nothing. They share one processed-events name.
    consumers.push(
      ...(await startDurableConsumersBySubject({
        js,
        jsm,
        stream: eventsStreamName(prefix),
        durablePrefix: RELEASE_DURABLE,
        filterSubjects: [...RELEASE_TRIGGERS].map((type) => eventSubject(prefix, type)),
        legacyDurables: [RELEASE_DURABLE],
        ackWaitMs: options.ackWaitMs ?? 15_000,
        logger: log,
        handler: createIdempotentHandler({
          store: processed,
          consumer: RELEASE_DURABLE,
          handle: (event) => releaseAfter(deps, event),
        }),
      })),
    );
    if (options.metricsPort !== undefined) metricsServer = await serveMetrics(metrics.registry, options.metricsPort);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }

  // In the background: a host that is slow to answer must not delay the consumers' start.
  void reconcile().catch((err: unknown) => log.warn({ err }, "reconcile at start failed"));
  const interval = options.reconcileIntervalMs ?? 60_000;
  if (interval > 0) {
    timer = setInterval(() => {
      reconcile().catch((err: unknown) => log.warn({ err }, "reconcile failed"));
    }, interval);
    timer.unref();
  }

  return { metricsPort: metricsServer?.port, reconcile, stop };
}
