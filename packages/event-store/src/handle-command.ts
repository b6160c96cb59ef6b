import { AbortedError, AlreadyExistsError } from "@shoal/domain";
import type { Decider, DomainEvent, EventMetadata } from "@shoal/domain";
import type { EventStore } from "./event-store";
import type { EventStoreDatabase, KyselyOrTransaction } from "./event-store-database";
import type { RecordedEvent } from "./event-types";

/** A stream folded through a decider: its recorded events, the state they give, and its version (0: no stream). */
export interface LoadedStream<State> {
  recorded: RecordedEvent[];
  state: State;
  version: number;
}

/**
 * Reads `streamId` (inside `trx` when given) and folds it with `decider.evolve`. With `from`
 * (an earlier result for the same stream), only the versions after it are read and folded
 * onto its state; `recorded` then holds just those.
 */
export async function loadStream<State, Command, Event extends DomainEvent, DB extends EventStoreDatabase = EventStoreDatabase>(
  store: EventStore,
  streamId: string,
  decider: Decider<State, Command, Event>,
  trx?: KyselyOrTransaction<DB>,
  from?: { state: State; version: number },
): Promise<LoadedStream<State>> {
  const recorded = await store.readStream(streamId, {
    ...(trx === undefined ? {} : { trx }),
    ...(from === undefined ? {} : { fromVersion: from.version + 1 }),
  });
  return foldStream(decider, recorded, from);
}

/** Folds events already read (e.g. by `readStreams`) as `loadStream` does, optionally onto an earlier result. */
export function foldStream<State, Command, Event extends DomainEvent>(
  decider: Decider<State, Command, Event>,
  recorded: RecordedEvent[],
  from?: { state: State; version: number },
): LoadedStream<State> {
  let state = from === undefined ? decider.initialState() : from.state;
  for (const r of recorded) state = decider.evolve(state, { type: r.type, data: r.data } as Event);
  return { recorded, state, version: recorded.at(-1)?.streamVersion ?? from?.version ?? 0 };
}

export interface AppendDecidedOptions<Event extends DomainEvent, DB extends EventStoreDatabase = EventStoreDatabase> {
  streamId: string;
  /** The version the events were decided against (from `loadStream`). */
  version: number;
  events: readonly Event[];
  eventId: (event: Event, index: number) => string;
  schemaVersion: (type: Event["type"]) => number;
  metadata?: EventMetadata;
  trx?: KyselyOrTransaction<DB>;
}

/**
 * Appends decided events with the version they were decided against. Nothing is written for
 * `[]`. Errors are the store's: AbortedError when another appender won, AlreadyExistsError
 * when an event id is recorded already (a redelivered cause).
 */
export async function appendDecided<Event extends DomainEvent, DB extends EventStoreDatabase = EventStoreDatabase>(
  store: EventStore,
  opts: AppendDecidedOptions<Event, DB>,
): Promise<void> {
  if (opts.events.length === 0) return;
  await store.appendToStream(
    opts.streamId,
    opts.version === 0 ? "no-stream" : opts.version,
    opts.events.map((event, i) => ({
      eventId: opts.eventId(event, i),
      type: event.type,
      schemaVersion: opts.schemaVersion(event.type),
      data: event.data,
      metadata: { ...opts.metadata },
    })),
    opts.trx === undefined ? {} : { trx: opts.trx },
  );
}

export interface HandleCommandOptions<State, Command, Event extends DomainEvent> {
  streamId: string;
  decider: Decider<State, Command, Event>;
  command: Command;
  /**
   * The id of the i-th decided event. Use a derived id (domain `derivedEventId`) when the
   * command is caused by another fact, so a redelivered cause appends nothing twice;
   * a random UUID for a user's request.
   */
  eventId: (event: Event, index: number) => string;
  /** The schema version each event type is written with. */
  schemaVersion: (type: Event["type"]) => number;
  metadata?: EventMetadata;
  /** Re-read and re-decide this many times when a concurrent append wins (default 3). */
  retries?: number;
  /**
   * The derived id this command's first event is recorded under when something recorded
   * the same fact before (e.g. from another copy of the same report). Found in the stream:
   * the answer is `duplicate`, without deciding again on a state that has moved on.
   */
  recordedAs?: string;
}

export interface HandleCommandResult<State, Event> {
  /** The stream's state after the decided events. */
  state: State;
  /** What was appended: `[]` when the decider accepted with nothing to record, or the events were already recorded. */
  appended: Event[];
  /** True when the decided events' ids were already in the log (a redelivered cause). */
  duplicate: boolean;
}

/**
 * Read a stream, fold it, decide, append with the version read — the one way Shoal's
 * services turn a command into events. Refusals are the decider's ShoalErrors, thrown
 * unchanged with nothing appended. An AbortedError (another appender won) is retried
 * after a re-read up to `retries` times, then thrown. An AlreadyExistsError on append
 * means the events were recorded before: reported as `duplicate`, not thrown.
 * Services that must commit several streams or their own tables together use
 * `loadStream` + `appendDecided` inside their transaction instead.
 */
export async function handleCommand<State, Command, Event extends DomainEvent>(
  store: EventStore,
  opts: HandleCommandOptions<State, Command, Event>,
): Promise<HandleCommandResult<State, Event>> {
  const { decider, streamId } = opts;
  const retries = opts.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    const { recorded, state, version } = await loadStream(store, streamId, decider);
    if (opts.recordedAs !== undefined && recorded.some((r) => r.eventId === opts.recordedAs)) return { state, appended: [], duplicate: true };
    const events = decider.decide(opts.command, state);
    try {
      await appendDecided(store, { ...opts, version, events });
    } catch (err) {
      if (err instanceof AlreadyExistsError) return { state, appended: [], duplicate: true };
      if (err instanceof AbortedError && attempt < retries) continue;
      throw err;
    }
    let next = state;
    for (const e of events) next = decider.evolve(next, e);
    return { state: next, appended: events, duplicate: false };
  }
}
