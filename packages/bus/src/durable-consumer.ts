import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, ReplayPolicy } from "@nats-io/jetstream";
import type { ConsumerConfig, ConsumerInfo, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/nats-core";
import { millis, nanos } from "@nats-io/nats-core";
import { FailedPreconditionError, InvalidArgumentError, UnavailableError } from "@shoal/domain";
import { stderrBusLogger } from "./bus-logger";
import type { BusLogger } from "./bus-logger";
import { decodeEventMessage } from "./event-publisher";
import type { EventEnvelope } from "./event-publisher";
import type { ProcessedEventStore } from "./processed-event-store";

/** One message as a durable consumer's handler sees it. */
export interface DeliveredMessage {
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs | undefined;
  /** Position in the stream; the same on every redelivery. */
  streamSequence: number;
  /** 1 on first delivery. */
  deliveryCount: number;
  redelivered: boolean;
  /** Tells JetStream the handler is still busy, restarting the ack-wait timer. */
  working(): void;
}

export type MessageHandler = (msg: DeliveredMessage) => Promise<void>;

/**
 * Thrown by a handler for a message that is not due yet (a restart waiting for its
 * backoff): the message is redelivered after `delayMs`, logged at debug, not as a failure.
 * Each deferral is a delivery and counts toward `maxDeliver`: a consumer that defers more
 * than once (a wait for something else to happen) sets `maxDeliver: -1`.
 */
export class DeliverLaterError extends Error {
  constructor(readonly delayMs: number) {
    super(`not due for ${delayMs} ms`);
    this.name = "DeliverLaterError";
  }
}

export interface DurableConsumerOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  /** Durable consumer name; its ack floor survives restarts of this process and of NATS. */
  durableName: string;
  /** One subject filter (nats-server 2.9 allows only one per consumer). */
  filterSubject: string;
  /**
   * Resolve to ack. Reject to have the message redelivered after a delay
   * (`retryDelayMs`), except InvalidArgumentError, which means the message can never
   * be handled: it is terminated (not redelivered) and logged, and DeliverLaterError,
   * which defers a message not due yet by its own delay.
   */
  handler: MessageHandler;
  /** Unacked messages are redelivered after this long; default 30 000 ms. */
  ackWaitMs?: number;
  /** After this many deliveries JetStream stops redelivering; default 10 (−1 = no limit). */
  maxDeliver?: number;
  /** Where a durable that does not exist yet starts: every stored message (default) or only new ones. */
  startFrom?: "all" | "new";
  /** Delay before the redelivery of a message whose handler failed; default 500 ms doubling, at most 30 s. */
  retryDelayMs?: (deliveryCount: number) => number;
  /**
   * Messages pulled ahead of the handler; default 8. They are handled one at a time in
   * delivery order, which is stream order except for redeliveries (they come back late).
   */
  prefetch?: number;
  logger?: BusLogger;
}

export interface DurableConsumer {
  readonly durableName: string;
  /**
   * Stops pulling, waits for the message being handled (and its ack), and naks
   * messages that were pulled but not handled so another instance gets them at once.
   * Idempotent.
   */
  stop(): Promise<void>;
}

const defaultRetryDelay = (deliveryCount: number) => Math.min(500 * 2 ** Math.max(0, deliveryCount - 1), 30_000);

/**
 * Creates (or updates) the durable pull consumer `durableName` on `stream` with
 * explicit acks and starts handling its messages one at a time. A message is acked
 * only after `handler` resolves, so a crash mid-handler means redelivery: handlers
 * must be idempotent (see `createIdempotentHandler`).
 *
 * Errors: FailedPreconditionError when the stream does not exist or the existing
 * durable cannot be changed to this configuration; UnavailableError when JetStream
 * does not answer.
 */
export async function startDurableConsumer(options: DurableConsumerOptions): Promise<DurableConsumer> {
  const { js, jsm, stream, durableName, handler } = options;
  const logger = options.logger ?? stderrBusLogger;
  const retryDelay = options.retryDelayMs ?? defaultRetryDelay;
  await ensureDurable(jsm, options);

  let consumer;
  let messages;
  try {
    consumer = await js.consumers.get(stream, durableName);
    messages = await consumer.consume({ max_messages: options.prefetch ?? 8 });
  } catch (err) {
    throw new UnavailableError(`could not start consuming ${stream}/${durableName}`, { cause: err });
  }
  const log = { stream, durable: durableName };

  void (async () => {
    for await (const s of messages.status()) {
      if (s.type === "consumer_deleted" || s.type === "consumer_not_found" || s.type === "stream_not_found") {
        logger.warn({ ...log, status: s.type }, "durable consumer lost its server-side state");
      } else if (s.type === "heartbeats_missed") {
        logger.warn({ ...log, count: s.count }, "durable consumer missed server heartbeats");
      }
    }
  })().catch(() => undefined);

  let stopping = false;
  const handleOne = async (m: JsMsg): Promise<void> => {
    const delivered = toDelivered(m);
    try {
      await handler(delivered);
    } catch (err) {
      if (err instanceof DeliverLaterError) {
        logger.info({ ...log, subject: m.subject, seq: m.seq, delayMs: err.delayMs }, "message not due yet; redelivery deferred");
        m.nak(Math.max(1, Math.ceil(err.delayMs)));
        return;
      }
      const ctx = { ...log, subject: m.subject, seq: m.seq, deliveryCount: m.info.deliveryCount, err };
      if (err instanceof InvalidArgumentError) {
        logger.error(ctx, "message can never be handled; terminating it");
        m.term(err.message);
        return;
      }
      const delay = retryDelay(m.info.deliveryCount);
      const max = options.maxDeliver ?? 10;
      if (max > 0 && m.info.deliveryCount >= max) {
        logger.error(ctx, `handler failed on the last allowed delivery (${max}); JetStream will not redeliver`);
      } else {
        logger.warn({ ...ctx, retryInMs: delay }, "handler failed; message will be redelivered");
      }
      m.nak(delay);
      return;
    }
    try {
      await m.ackAck();
    } catch (err) {
      // The ack may still have landed; if not, the message comes back and the idempotent handler skips it.
      logger.warn({ ...log, subject: m.subject, seq: m.seq, err }, "ack was not confirmed");
    }
  };

  const loop = (async () => {
    for await (const m of messages) {
      if (stopping) {
        m.nak();
        continue;
      }
      await handleOne(m);
    }
  })().catch((err: unknown) => {
    logger.error({ ...log, err }, "durable consumer stopped on an error");
  });

  let stopped: Promise<void> | undefined;
  return {
    durableName,
    stop() {
      stopped ??= (async () => {
        stopping = true;
        await messages.close();
        await loop;
      })();
      return stopped;
    },
  };
}

/**
 * Wraps an event handler so an event is handled at most once per `consumer` name:
 * an event the store already has is acked without calling `handle`; otherwise
 * `handle` runs and the event is then marked. If the process dies between the two,
 * the event is handled again — give `handle` and the store one transaction where
 * that matters.
 *
 * A message that is not an event envelope fails with InvalidArgumentError (and is
 * terminated by the durable consumer).
 */
export function createIdempotentHandler(options: {
  store: ProcessedEventStore;
  consumer: string;
  handle: (event: EventEnvelope, msg: DeliveredMessage) => Promise<void>;
}): MessageHandler {
  const { store, consumer, handle } = options;
  return async (msg) => {
    const event = decodeEventMessage(msg);
    if (await store.wasProcessed(consumer, event.eventId)) return;
    await handle(event, msg);
    await store.markProcessed(consumer, event.eventId);
  };
}

function toDelivered(m: JsMsg): DeliveredMessage {
  return {
    subject: m.subject,
    data: m.data,
    headers: m.headers,
    streamSequence: m.seq,
    deliveryCount: m.info.deliveryCount,
    redelivered: m.redelivered,
    working: () => m.working(),
  };
}

/**
 * One durable per subject (`<durablePrefix>-<last subject token>`), all with the same
 * handler: how a service takes a few event types without being handed every event of the
 * aggregate (nats-server 2.9 allows one filter per consumer), so the other types cost it no
 * delivery and no ack. A durable left from an earlier filter layout (`legacyDurables`) is
 * deleted, best effort, so it does not linger on the server. On a failure the ones started
 * are stopped.
 */
export async function startDurableConsumersBySubject(
  options: Omit<DurableConsumerOptions, "durableName" | "filterSubject"> & {
    durablePrefix: string;
    filterSubjects: readonly string[];
    legacyDurables?: readonly string[];
  },
): Promise<DurableConsumer[]> {
  const { durablePrefix, filterSubjects, legacyDurables = [], ...common } = options;
  for (const legacy of legacyDurables) await options.jsm.consumers.delete(options.stream, legacy).catch(() => false);
  const started: DurableConsumer[] = [];
  try {
    for (const subject of filterSubjects) {
      const token = subject.slice(subject.lastIndexOf(".") + 1);
      started.push(await startDurableConsumer({ ...common, durableName: `${durablePrefix}-${token}`, filterSubject: subject }));
    }
  } catch (err) {
    await Promise.all(started.map((c) => c.stop()));
    throw err;
  }
  return started;
}

async function ensureDurable(jsm: JetStreamManager, o: DurableConsumerOptions): Promise<ConsumerInfo> {
  const want: Partial<ConsumerConfig> = {
    durable_name: o.durableName,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: o.startFrom === "new" ? DeliverPolicy.New : DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    filter_subject: o.filterSubject,
    ack_wait: nanos(o.ackWaitMs ?? 30_000),
    max_deliver: o.maxDeliver ?? 10,
  };
  let have: ConsumerInfo | undefined;
  try {
    have = await jsm.consumers.info(o.stream, o.durableName);
  } catch (err) {
    if (!(err instanceof JetStreamApiError)) {
      throw new UnavailableError(`could not read consumer ${o.stream}/${o.durableName}`, { cause: err });
    }
    if (err.code === JetStreamApiCodes.StreamNotFound) {
      throw new FailedPreconditionError(`stream ${o.stream} does not exist (run ensureStreams first)`, { cause: err });
    }
    if (err.code !== JetStreamApiCodes.ConsumerNotFound) {
      throw new UnavailableError(`could not read consumer ${o.stream}/${o.durableName}`, { cause: err });
    }
  }
  if (have === undefined) {
    try {
      return await jsm.consumers.add(o.stream, want);
    } catch (err) {
      throw new UnavailableError(`could not create consumer ${o.stream}/${o.durableName}`, { cause: err });
    }
  }
  const c = have.config;
  if (c.filter_subject === want.filter_subject && c.ack_wait === want.ack_wait && c.max_deliver === want.max_deliver) {
    return have;
  }
  try {
    return await jsm.consumers.update(o.stream, o.durableName, {
      filter_subject: want.filter_subject,
      ack_wait: want.ack_wait,
      max_deliver: want.max_deliver,
    });
  } catch (err) {
    throw new FailedPreconditionError(
      `consumer ${o.stream}/${o.durableName} exists with filter ${c.filter_subject ?? ">"}, ` +
        `ack wait ${millis(c.ack_wait ?? 0)} ms, max deliver ${c.max_deliver}; it could not be changed to ` +
        `${o.filterSubject}, ${o.ackWaitMs ?? 30_000} ms, ${want.max_deliver} (delete the durable to change it)`,
      { cause: err },
    );
  }
}
