/**
 * The shapes every aggregate in Shoal shares (emmett-style deciders).
 * A decider is pure: no clock, no ids, no I/O — they arrive on the command.
 */

/** A fact, named in the past tense. `data` must survive a JSON round trip unchanged. */
export type DomainEvent<Type extends string = string, Data = unknown> = Readonly<{ type: Type; data: Data }>;

/** An intent, named in the imperative. */
export type DomainCommand<Type extends string = string, Data = unknown> = Readonly<{ type: Type; data: Data }>;

/**
 * `decide` returns the events a command causes in a state, or throws a ShoalError to
 * refuse it (nothing is appended then); `[]` means "accepted, nothing to record".
 * `evolve` folds one recorded event into the state and never refuses a recorded fact.
 */
export type Decider<State, Command, Event> = {
  decide: (command: Command, state: State) => Event[];
  evolve: (state: State, event: Event) => State;
  initialState: () => State;
};
