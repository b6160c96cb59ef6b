/**
 * Read (unless the caller knows the stream) → fold → decide → append for one stream inside a caller's transaction, so several
 * streams' decisions commit together (the group's events and ContainerIpcPrepared: one
 * commit, one publish, and never one without the other). Without `trx` it reads and
 * appends on its own (the append's version check is the guard) and the store publishes
 * the append at once.
 */
import type { Kysely } from "kysely";
import type { Decider, DomainEvent, EventMetadata } from "@shoal/domain";
import { appendDecided as appendToStreamAsDecided, loadStream } from "@shoal/event-store";
import type { EventStore } from "@shoal/event-store";

export interface AppendDecidedOptions<State, Command, Event extends DomainEvent> {
  /** A transaction from `store.transaction` (so its appends are published after the commit); undefined: none. */
  trx: Kysely<any> | undefined;
  streamId: string;
  decider: Decider<State, Command, Event>;
  command: Command;
  eventId: (event: Event, index: number) => string;
  schemaVersion: (type: Event["type"]) => number;
  metadata?: EventMetadata;
  /** The stream as the caller just read it: decided on without a read (a stale one is ABORTED by the append). */
  known?: { state: State; version: number };
}

/**
 * Appends what `decide` returns (nothing when it returns `[]`) and returns those events.
 * Refusals are the decider's errors; AbortedError (another appender won) and
 * AlreadyExistsError (an id is recorded) leave the transaction to be rolled back by the caller.
 */
export async function appendDecided<State, Command, Event extends DomainEvent>(
  store: EventStore,
  opts: AppendDecidedOptions<State, Command, Event>,
): Promise<Event[]> {
  const { state, version } = opts.known ?? (await loadStream(store, opts.streamId, opts.decider, opts.trx));
  const events = opts.decider.decide(opts.command, state);
  await appendToStreamAsDecided(store, { ...opts, version, events });
  return events;
}
