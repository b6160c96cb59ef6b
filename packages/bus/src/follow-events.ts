import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { decodeEventMessage } from "./event-publisher";
import type { EventEnvelope } from "./event-publisher";
import { createRecentWork } from "./recent-work";
import { eventSubject } from "./subjects";

/**
 * Follows published events of one type on core NATS, as they are published: no durability, no
 * ordering guarantee beyond NATS's, nothing redelivered. For what only speeds things up (a fast
 * path in front of a durable consumer, a read ahead): an unreadable message is skipped, and
 * `onEvent` must not throw (a rejection it returns is its own to handle).
 */
export function followEvents(
  nc: NatsConnection,
  prefix: string,
  eventType: string,
  onEvent: (event: EventEnvelope) => void,
): Subscription {
  return nc.subscribe(eventSubject(prefix, eventType), {
    callback: (err, msg) => {
      if (err) return;
      let event: EventEnvelope;
      try {
        event = decodeEventMessage(msg);
      } catch {
        return; // unreadable here: whoever consumes it durably handles (or refuses) it there
      }
      onEvent(event);
    },
  });
}

/** How long work done on a fast path is remembered for the durable's copy of its event. */
const FAST_PATH_KEPT_MS = 60_000;

export interface FastPath {
  /** What the durable's handler calls with its copy: waits for the work claimed on the fast path, or does it. */
  handle(event: EventEnvelope): Promise<unknown>;
  stop(): void;
}

/**
 * A fast path in front of a durable consumer of `eventType`: each event is handled as core NATS
 * brings it, before JetStream has stored it and delivered it to the durable, claimed in this
 * process by its event id (`RecentWork`). The durable stays the guarantee: its handler passes
 * its copy to `handle`, which waits for (and so is acked after) the claimed work, or does the
 * work itself when the fast path missed the event, failed (`onFailure`), or died with the process.
 */
export function startFastPath(opts: {
  nc: NatsConnection;
  prefix: string;
  eventType: string;
  handle: (event: EventEnvelope) => Promise<unknown>;
  onFailure: (err: unknown, event: EventEnvelope) => void;
}): FastPath {
  const claims = createRecentWork<unknown>(FAST_PATH_KEPT_MS);
  const handle = (event: EventEnvelope) => claims.once(event.eventId, () => opts.handle(event));
  const sub = followEvents(opts.nc, opts.prefix, opts.eventType, (event) => {
    handle(event).catch((err: unknown) => opts.onFailure(err, event));
  });
  return { handle, stop: () => sub.unsubscribe() };
}
