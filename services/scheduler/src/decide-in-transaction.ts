/**
 * Read → fold → decide → append, with the caller's own table writes (`then`) in the
 * append's Postgres transaction: the host registry uses it so a `hosts` row commits with
 * its HostRegistered / HostLost. The stream is read beside the transaction (while it
 * begins, on another connection): the append's expected version is the guard, and a
 * stream that moved meanwhile re-runs the whole attempt. It takes no lock: only the one
 * active scheduler decides (active-lock.ts), and within it `CapacityView.exclusive`
 * orders decisions. Not used on the start path (placement-consumer.ts appends alone).
 */
import type { Kysely, Transaction } from "kysely";
import { AbortedError, AlreadyExistsError } from "@shoal/domain";
import type { Decider, DomainEvent, EventMetadata } from "@shoal/domain";
import { appendDecided, loadStream } from "@shoal/event-store";
import type { EventStore, LoadedStream } from "@shoal/event-store";
import type { SchedulerDatabase } from "./scheduler-database";

export type StreamRead<State> = LoadedStream<State>;

export type Decision<Command, Event> = { command: Command; eventId: (event: Event, index: number) => string };

export interface DecideInTransactionOptions<State, Command, Event extends DomainEvent> {
  streamId: string;
  decider: Decider<State, Command, Event>;
  schemaVersion: (type: Event["type"]) => number;
  metadata?: EventMetadata;
  /** Chooses the command from the stream (and the caller's tables, through `trx`); undefined: nothing to do. */
  plan(trx: Transaction<SchedulerDatabase>, read: StreamRead<State>): Promise<Decision<Command, Event> | undefined>;
  /** Runs after the append, in the same transaction (also when nothing was appended, not when `plan` declined). */
  then?(trx: Transaction<SchedulerDatabase>, result: StreamRead<State> & { appended: Event[] }): Promise<void>;
  /** Attempts after a lost race (AbortedError / an id appended concurrently); default 5. */
  retries?: number;
}

/**
 * Refusals from `decide` (ShoalErrors) are thrown with nothing written. A concurrent
 * append (AbortedError, or AlreadyExistsError for a derived id) re-runs the whole
 * transaction, where `plan` sees the winner's events; after `retries` it is thrown.
 */
export async function decideInTransaction<State, Command, Event extends DomainEvent>(
  db: Kysely<SchedulerDatabase>,
  store: EventStore,
  opts: DecideInTransactionOptions<State, Command, Event>,
): Promise<{ appended: Event[]; declined: boolean }> {
  const retries = opts.retries ?? 5;
  for (let attempt = 0; ; attempt++) {
    try {
      // The store's transaction: the ContainerScheduled goes out right after the commit.
      const reading = loadStream(store, opts.streamId, opts.decider);
      reading.catch(() => undefined); // awaited below; a failure before that is not unhandled
      return await store.transaction(db, async (trx) => {
        const read = await reading;
        const decision = await opts.plan(trx, read);
        if (decision === undefined) return { appended: [], declined: true };
        const events = opts.decider.decide(decision.command, read.state);
        await appendDecided(store, { ...opts, trx, version: read.version, events, eventId: decision.eventId });
        await opts.then?.(trx, { ...read, appended: events });
        return { appended: events, declined: false };
      });
    } catch (err) {
      if ((err instanceof AbortedError || err instanceof AlreadyExistsError) && attempt < retries) continue;
      throw err;
    }
  }
}
