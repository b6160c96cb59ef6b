import { AbortedError, AlreadyExistsError } from "@shoal/domain";
import type { Decider, DomainEvent, EventMetadata } from "@shoal/domain";
import type { EventStore } from "./event-store";

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
 */
export async function handleCommand<State, Command, Event extends DomainEvent>(
  store: EventStore,
  opts: HandleCommandOptions<State, Command, Event>,
): Promise<HandleCommandResult<State, Event>> {
  const { decider, streamId } = opts;
  const retries = opts.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    const recorded = await store.readStream(streamId);
    let state = decider.initialState();
    for (const r of recorded) state = decider.evolve(state, { type: r.type, data: r.data } as Event);
    const version = recorded.length === 0 ? 0 : recorded[recorded.length - 1]!.streamVersion;

    const events = decider.decide(opts.command, state);
    if (events.length === 0) return { state, appended: [], duplicate: false };
    try {
      await store.appendToStream(
        streamId,
        version === 0 ? "no-stream" : version,
        events.map((event, i) => ({
          eventId: opts.eventId(event, i),
          type: event.type,
          schemaVersion: opts.schemaVersion(event.type),
          data: event.data,
          metadata: { ...opts.metadata },
        })),
      );
    } catch (err) {
      if (err instanceof AlreadyExistsError) return { state, appended: [], duplicate: true };
      if (err instanceof AbortedError && attempt < retries) continue;
      throw err;
    }
    for (const e of events) state = decider.evolve(state, e);
    return { state, appended: events, duplicate: false };
  }
}
