/**
 * Short ack waits for the api's durables, so a message held by an api that was killed is
 * redelivered to its successor within seconds; a handler that takes longer (a host
 * command) tells JetStream it is still working.
 */
import type { DeliveredMessage, MessageHandler } from "@shoal/bus";

/** The ack wait of the api's durable consumers. */
export const API_ACK_WAIT_MS = 10_000;

/** Wraps `handler` so that `msg.working()` is sent every third of the ack wait while it runs. */
export function keepingAlive(handler: MessageHandler, ackWaitMs = API_ACK_WAIT_MS): MessageHandler {
  return async (msg: DeliveredMessage) => {
    const timer = setInterval(() => msg.working(), Math.max(100, Math.floor(ackWaitMs / 3)));
    try {
      await handler(msg);
    } finally {
      clearInterval(timer);
    }
  };
}
