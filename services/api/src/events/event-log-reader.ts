/**
 * Reads the events stream (`<PREFIX>_EVENTS`) from a position, in stream order, with no
 * gaps: an ephemeral ordered consumer starting at the wanted sequence, plus checks that
 * the log still holds that sequence. The stream is unfiltered on purpose — every message
 * must be seen to prove there is no gap; filtering happens in the caller.
 */
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { ConsumerMessages, JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { decodeEventMessage, eventsStreamName } from "@shoal/bus";
import type { EventEnvelope } from "@shoal/bus";
import { UnavailableError } from "@shoal/domain";
import { formatEventCursor } from "./events-cursor";

/**
 * The position asked for is not in the log any more (purged, or the log was reset).
 * gRPC OUT_OF_RANGE; not a ShoalError because the domain taxonomy has no such code.
 */
export class CursorOutOfRangeError extends Error {
  override readonly name = "CursorOutOfRangeError";
}

export interface EventLogReadOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  prefix: string;
  /** Resume after this stream sequence (a parsed cursor). Unset: from `sinceTime`, else from the first kept event. */
  afterSeq?: number;
  /** Start at the first event stored at or after this time, and skip events recorded before it. */
  sinceTime?: Date;
  /** Skip events recorded after this time, and end once the log is read past it (see `untilGraceMs`). */
  untilTime?: Date;
  /**
   * How long after `untilTime` events recorded before it may still arrive (the outbox
   * relay's lag); the read ends only after this and once every stored message was read.
   * Default 2000 ms.
   */
  untilGraceMs?: number;
  /** Ends the read (the generator returns) and deletes the consumer. */
  signal: AbortSignal;
  /** A message on the events subjects that is not an event envelope: skipped, reported here. */
  onUndecodable?: (seq: number, err: unknown) => void;
  /** A second copy of an event already stored at `originalSeq`: skipped, reported here. */
  onDuplicate?: (seq: number, originalSeq: number, event: EventEnvelope) => void;
}

export interface LoggedEvent {
  seq: number;
  cursor: string;
  event: EventEnvelope;
}

const UNTIL_POLL_MS = 250;
/** Messages per pull, and how long one pull waits for them while the reader is caught up. */
const BATCH = 256;
const BATCH_EXPIRES_MS = 30_000;
const SINCE_SLACK_MS = 1_000;
/** Messages read before a cursor to learn their event ids, and how many recent ids are kept. */
const LOOKBACK = 256;
const DEDUPE_WINDOW = 4_096;

/**
 * Yields every event after the start position. Errors (thrown from the first or a later
 * `next()`): CursorOutOfRangeError when the start is older than the oldest kept event or
 * ahead of the newest, or when messages disappear between the start and the reader;
 * UnavailableError when the stream does not exist, JetStream does not answer or the
 * NATS connection closes mid-read.
 */
export async function* readEventLog(opts: EventLogReadOptions): AsyncGenerator<LoggedEvent, void, undefined> {
  const { js, jsm, signal } = opts;
  const stream = eventsStreamName(opts.prefix);
  const info = await streamState(jsm, stream);

  // `startSeq`: the first message to hand on. With `strict`, no message from it on may be
  // missing; without, the first message delivered sets that floor.
  let startSeq: number;
  let strict: boolean;
  if (opts.afterSeq !== undefined) {
    if (opts.afterSeq > info.lastSeq) {
      throw new CursorOutOfRangeError(
        `cursor ${formatEventCursor(opts.afterSeq)} is ahead of the newest event (${formatEventCursor(info.lastSeq)}): ` +
          `the event log was reset; subscribe without a cursor`,
      );
    }
    startSeq = opts.afterSeq + 1;
    strict = true;
  } else if (opts.sinceTime !== undefined) {
    // A little early: events are filtered on their recorded time below, and the server's clock may differ.
    startSeq = await firstSeqAtOrAfter(jsm, stream, new Date(opts.sinceTime.getTime() - SINCE_SLACK_MS));
    strict = true;
  } else {
    startSeq = Math.max(info.firstSeq, 1);
    strict = false;
  }
  if (strict && startSeq < info.firstSeq) throw olderThanKept(startSeq, info.firstSeq);
  if (signal.aborted) return;
  // Read a little before the start only to remember those event ids (see `recentIds`).
  const readFrom = strict ? Math.max(info.firstSeq, 1, startSeq - LOOKBACK) : startSeq;

  let consumer;
  try {
    consumer = await js.consumers.get(stream, { opt_start_seq: readFrom, deliver_policy: DeliverPolicy.StartSequence });
  } catch (err) {
    throw new UnavailableError(`could not read the events stream ${stream}`, { cause: err });
  }
  let batch: ConsumerMessages | undefined;
  let stopTimer: NodeJS.Timeout | undefined;
  // Stopping the batch being read (abort, or read past `untilTime`) ends the loops below.
  let stopping = false;
  const stop = (): void => {
    stopping = true;
    batch?.stop();
  };
  signal.addEventListener("abort", stop, { once: true });
  try {
    let lastSeen = readFrom - 1;
    let floor = strict ? startSeq : undefined;
    // The outbox relay re-publishes after a crash; JetStream drops the copy only inside its
    // duplicate window, so a late copy can be stored again under a new sequence, close
    // after the original. Recent event ids (the lookback included) keep it from being
    // handed on twice, also to a subscriber resuming between the two.
    const recentIds = new Map<string, number>();
    const sinceMs = opts.sinceTime?.getTime();
    const untilMs = opts.untilTime?.getTime();
    const graceMs = opts.untilGraceMs ?? 2_000;

    if (untilMs !== undefined) {
      // Ends the read once the wall clock is past until + grace and nothing stored is unread.
      const check = async (): Promise<void> => {
        if (stopping) return;
        if (Date.now() >= untilMs + graceMs) {
          const now = await streamState(jsm, stream).catch(() => undefined);
          if (now !== undefined && now.lastSeq <= lastSeen) return stop();
        }
        stopTimer = setTimeout(() => void check(), UNTIL_POLL_MS);
      };
      stopTimer = setTimeout(() => void check(), Math.max(0, untilMs + graceMs - Date.now()));
    }

    // Pull one bounded batch at a time and ask for the next only when it has been handed
    // on, so a slow client holds back the pull instead of the api buffering the log.
    while (!stopping) {
      try {
        batch = await consumer.fetch({ max_messages: BATCH, expires: BATCH_EXPIRES_MS });
      } catch (err) {
        if (stopping) break;
        throw new UnavailableError(`could not read the events stream ${stream}`, { cause: err });
      }
      if (stopping) break;
      for await (const msg of batch) {
        if (signal.aborted) return;
        const seq = msg.seq;
        floor ??= seq;
        const missingFrom = Math.max(lastSeen + 1, floor);
        if (seq > missingFrom) {
          throw new CursorOutOfRangeError(
            `events ${formatEventCursor(missingFrom)}..${formatEventCursor(seq - 1)} were removed from the log while ` +
              `being read; resubscribe without a cursor`,
          );
        }
        lastSeen = seq;
        let event: EventEnvelope;
        try {
          event = decodeEventMessage(msg);
        } catch (err) {
          if (seq >= floor) opts.onUndecodable?.(seq, err);
          continue;
        }
        const original = recentIds.get(event.eventId);
        if (original === undefined) {
          recentIds.set(event.eventId, seq);
          if (recentIds.size > DEDUPE_WINDOW) recentIds.delete(recentIds.keys().next().value!);
        }
        if (seq < floor) continue;
        if (original !== undefined) {
          opts.onDuplicate?.(seq, original, event);
          continue;
        }
        const at = event.recordedAt.getTime();
        if (sinceMs !== undefined && at < sinceMs) continue;
        if (untilMs !== undefined && at > untilMs) continue;
        yield { seq, cursor: formatEventCursor(seq), event };
      }
    }
  } finally {
    signal.removeEventListener("abort", stop);
    clearTimeout(stopTimer);
    stopping = true;
    batch?.stop();
    await consumer.delete().catch(() => {});
  }
}

function olderThanKept(startSeq: number, firstSeq: number): CursorOutOfRangeError {
  return new CursorOutOfRangeError(
    `cursor ${formatEventCursor(startSeq - 1)} is older than the oldest kept event (${formatEventCursor(firstSeq)}); ` +
      `events in between were removed: subscribe without a cursor or with a since time`,
  );
}

async function streamState(jsm: JetStreamManager, stream: string): Promise<{ firstSeq: number; lastSeq: number }> {
  try {
    const info = await jsm.streams.info(stream);
    return { firstSeq: info.state.first_seq, lastSeq: info.state.last_seq };
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
      throw new UnavailableError(`the events stream ${stream} does not exist (no service has set up JetStream yet)`, {
        cause: err,
      });
    }
    throw new UnavailableError(`could not read the events stream ${stream}`, { cause: err });
  }
}

/**
 * The sequence of the first message stored at or after `time` (last + 1 when none):
 * a throwaway consumer with a start time reports where the server would start it.
 */
async function firstSeqAtOrAfter(jsm: JetStreamManager, stream: string, time: Date): Promise<number> {
  let name: string | undefined;
  try {
    const ci = await jsm.consumers.add(stream, {
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: time.toISOString(),
      ack_policy: AckPolicy.None,
      inactive_threshold: nanos(10_000),
      mem_storage: true,
    });
    name = ci.name;
    return ci.delivered.stream_seq + 1;
  } catch (err) {
    throw new UnavailableError(`could not find where ${time.toISOString()} starts in the events stream ${stream}`, {
      cause: err,
    });
  } finally {
    if (name !== undefined) await jsm.consumers.delete(stream, name).catch(() => {});
  }
}
