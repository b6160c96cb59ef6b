import type { JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import type { MsgHdrs } from "@nats-io/nats-core";
import { InvalidArgumentError, isShoalError, UnavailableError } from "@shoal/domain";
import { assertSubjectPrefix, eventSubject } from "./subjects";

/**
 * One stored event as the outbox relay hands it over. Structurally the same as the
 * event store's `OutboxMessage`, so a publisher built here can be passed where the
 * relay wants an `OutboxPublisher` without this package importing the event store.
 */
export interface EventEnvelope {
  eventId: string;
  streamId: string;
  streamVersion: number;
  globalPosition: bigint;
  type: string;
  schemaVersion: number;
  data: unknown;
  metadata: Record<string, unknown>;
  recordedAt: Date;
}

/** What JetStream said about one publish. */
export interface EventPublishAck {
  stream: string;
  seq: number;
  /** True when JetStream already had a message with this event id inside its dedup window. */
  duplicate: boolean;
}

/** Header names set on every event message (besides `Nats-Msg-Id` = event id). */
export const EVENT_HEADERS = {
  eventId: "Shoal-Event-Id",
  type: "Shoal-Event-Type",
  streamId: "Shoal-Stream-Id",
  streamVersion: "Shoal-Stream-Version",
  schemaVersion: "Shoal-Schema-Version",
  globalPosition: "Shoal-Global-Position",
} as const;

export interface JetStreamEventPublisher {
  /** `publishWithAck` without the ack: the shape the outbox relay's `OutboxPublisher` wants. */
  publish(event: EventEnvelope): Promise<void>;
  /**
   * Publishes `event` to `<prefix>.evt.<aggregate>.<type>` with `Nats-Msg-Id` = event id
   * and resolves once JetStream has stored it (or recognised it as a duplicate, which
   * is success: the relay may republish after a crash).
   *
   * Errors: InvalidArgumentError for an event type with no known aggregate (retrying
   * never helps); UnavailableError when no stream takes the subject or JetStream does
   * not acknowledge in time (the relay should retry later).
   */
  publishWithAck(event: EventEnvelope): Promise<EventPublishAck>;
}

export interface JetStreamEventPublisherOptions {
  prefix: string;
  /** How long to wait for JetStream's PubAck; default 5000 ms. */
  timeoutMs?: number;
}

export function createJetStreamEventPublisher(
  js: JetStreamClient,
  options: JetStreamEventPublisherOptions,
): JetStreamEventPublisher {
  const { prefix } = options;
  assertSubjectPrefix(prefix);
  const timeout = options.timeoutMs ?? 5_000;
  const publishWithAck = async (event: EventEnvelope): Promise<EventPublishAck> => {
    const subject = eventSubject(prefix, event.type);
    const body = encodeEventMessage(event);
    const h = natsHeaders();
    h.set(EVENT_HEADERS.eventId, event.eventId);
    h.set(EVENT_HEADERS.type, event.type);
    h.set(EVENT_HEADERS.streamId, event.streamId);
    h.set(EVENT_HEADERS.streamVersion, String(event.streamVersion));
    h.set(EVENT_HEADERS.schemaVersion, String(event.schemaVersion));
    h.set(EVENT_HEADERS.globalPosition, event.globalPosition.toString());
    h.set("Content-Type", "application/json");
    try {
      const ack = await js.publish(subject, body, { msgID: event.eventId, headers: h, timeout });
      return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      if (isShoalError(err)) throw err;
      throw new UnavailableError(`could not publish event ${event.eventId} (${event.type}) to ${subject}`, {
        cause: err,
      });
    }
  };
  return {
    publishWithAck,
    async publish(event) {
      await publishWithAck(event);
    },
  };
}

/**
 * The JSON body of an event message: every bigint (also inside `data`) as a decimal
 * string, dates as ISO-8601.
 */
export function encodeEventMessage(event: EventEnvelope): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      eventId: event.eventId,
      streamId: event.streamId,
      streamVersion: event.streamVersion,
      globalPosition: event.globalPosition.toString(),
      type: event.type,
      schemaVersion: event.schemaVersion,
      data: event.data,
      metadata: event.metadata,
      recordedAt: event.recordedAt.toISOString(),
    }, bigintAsString),
  );
}

function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

/** The parts of a received message `decodeEventMessage` reads (a JsMsg has them). */
export interface ReceivedMessage {
  subject: string;
  data: Uint8Array;
  headers?: MsgHdrs | undefined;
}

/**
 * Turns a message published by `createJetStreamEventPublisher` back into the envelope
 * (globalPosition a bigint, recordedAt a Date). InvalidArgumentError when the body is
 * not such an envelope; a consumer should `term` such a message, not retry it.
 */
export function decodeEventMessage(msg: ReceivedMessage): EventEnvelope {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(msg.data));
  } catch (err) {
    throw new InvalidArgumentError(`message on ${msg.subject} is not JSON`, { cause: err });
  }
  const bad = (field: string): never => {
    throw new InvalidArgumentError(`message on ${msg.subject} is not an event envelope: bad ${field}`);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) bad("body");
  const o = raw as Record<string, unknown>;
  const str = (k: string): string => (typeof o[k] === "string" && o[k] !== "" ? (o[k] as string) : bad(k));
  const int = (k: string): number => (Number.isSafeInteger(o[k]) ? (o[k] as number) : bad(k));
  const eventId = str("eventId");
  const streamId = str("streamId");
  const type = str("type");
  const streamVersion = int("streamVersion");
  const schemaVersion = int("schemaVersion");
  const position = str("globalPosition");
  if (!/^\d+$/.test(position)) bad("globalPosition");
  const recordedAt = new Date(str("recordedAt"));
  if (Number.isNaN(recordedAt.getTime())) bad("recordedAt");
  const metadata = o.metadata;
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) bad("metadata");
  if (!("data" in o)) bad("data");
  return {
    eventId,
    streamId,
    streamVersion,
    globalPosition: BigInt(position),
    type,
    schemaVersion,
    data: o.data,
    metadata: metadata as Record<string, unknown>,
    recordedAt,
  };
}
