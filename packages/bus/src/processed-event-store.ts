import type { Kysely } from "kysely";
import { InvalidArgumentError, UnavailableError } from "@shoal/domain";
import { eventStoreTables } from "@shoal/event-store";
import type { EventStoreDatabase } from "@shoal/event-store";

/**
 * Remembers which events a consumer has fully handled, so a redelivered event is
 * skipped. `consumer` names the logical consumer (usually its durable name): two
 * consumers each handle every event once.
 */
export interface ProcessedEventStore {
  wasProcessed(consumer: string, eventId: string): Promise<boolean>;
  /** Idempotent: marking an already marked event is not an error. */
  markProcessed(consumer: string, eventId: string): Promise<void>;
}

/** For unit tests and single-process tools; forgets everything on restart. */
export function createInMemoryProcessedEventStore(): ProcessedEventStore {
  const seen = new Set<string>();
  const key = (consumer: string, eventId: string) => `${consumer}\u0000${eventId}`;
  return {
    async wasProcessed(consumer, eventId) {
      return seen.has(key(consumer, eventId));
    },
    async markProcessed(consumer, eventId) {
      seen.add(key(consumer, eventId));
    },
  };
}

/**
 * Backed by the event store's table `processed_events` (`@shoal/event-store`'s
 * `ProcessedEventsTable`, migration 0004); this store does not create it. Pass a transaction (`db.transaction().execute(trx => …)`)
 * as `db` to mark an event in the same transaction as the handler's own writes —
 * that is what makes handling exactly-once rather than "at least once, then skipped".
 *
 * Errors: InvalidArgumentError when the event id is not a UUID (the column's type; the
 * consumer terminates such a message); UnavailableError when the database call fails
 * (the consumer naks and retries).
 */
export function createPostgresProcessedEventStore<DB extends EventStoreDatabase>(on: Kysely<DB>): ProcessedEventStore {
  const db = eventStoreTables(on);
  return {
    async wasProcessed(consumer, eventId) {
      try {
        const row = await db
          .selectFrom("processed_events")
          .select("consumer")
          .where("consumer", "=", consumer)
          .where("event_id", "=", eventId)
          .executeTakeFirst();
        return row !== undefined;
      } catch (err) {
        rethrowBadId(err, eventId);
        throw new UnavailableError(`could not read processed_events for ${consumer}`, { cause: err });
      }
    },
    async markProcessed(consumer, eventId) {
      try {
        await db
          .insertInto("processed_events")
          .values({ consumer, event_id: eventId })
          .onConflict((oc) => oc.columns(["consumer", "event_id"]).doNothing())
          .execute();
      } catch (err) {
        rethrowBadId(err, eventId);
        throw new UnavailableError(`could not record event ${eventId} as processed by ${consumer}`, { cause: err });
      }
    },
  };
}

/** Postgres `invalid_text_representation`: the id cannot be a uuid, so no retry helps. */
function rethrowBadId(err: unknown, eventId: string): void {
  if ((err as { code?: unknown } | null)?.code === "22P02") {
    throw new InvalidArgumentError(`event id "${eventId}" is not a UUID`, { cause: err });
  }
}
