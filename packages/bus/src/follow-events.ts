import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { decodeEventMessage } from "./event-publisher";
import type { EventEnvelope } from "./event-publisher";
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
