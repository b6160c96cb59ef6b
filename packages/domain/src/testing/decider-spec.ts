/**
 * Given/when/then specs for any decider:
 *
 *   const spec = DeciderSpecification.for(containerDecider);
 *   spec.given([created]).when(start).then([startRequested]);
 *   spec.given([]).when(start).thenThrows(NotFoundError, "No such container: …");
 *
 * `given` folds the events with `evolve` from `initialState()`; `when` runs `decide`.
 * Assertions throw node's AssertionError (vitest shows the diff). Do not `await` the
 * object returned by `when`: its `then` is an assertion, not a promise.
 */
import assert from "node:assert/strict";
import type { Decider } from "../decider";

/** A string matches exactly; a RegExp by test; a function by returning true. */
export type MessageMatcher = string | RegExp | ((message: string) => boolean);

// Any error class, including abstract ones (e.g. ShoalError).
type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

export type DeciderThen<Event> = {
  /** decide returns exactly these events, in this order (deep, strict equality). */
  then(expected: Event[]): void;
  /** decide accepts the command and returns no events. */
  thenNothingHappened(): void;
  /** decide refuses with an instance of `errorClass` whose message matches. */
  thenThrows<E extends Error>(errorClass: ErrorClass<E>, message?: MessageMatcher): void;
};

export type DeciderWhen<Command, Event> = { when(command: Command): DeciderThen<Event> };
export type DeciderGiven<Command, Event> = { given(events: Event[]): DeciderWhen<Command, Event> };

export const DeciderSpecification = {
  for<State, Command, Event>(decider: Decider<State, Command, Event>): DeciderGiven<Command, Event> {
    return {
      given(events) {
        return {
          when(command) {
            const run = (): Event[] => decider.decide(command, events.reduce(decider.evolve, decider.initialState()));
            return {
              then(expected) {
                assert.deepStrictEqual(run(), expected);
              },
              thenNothingHappened() {
                assert.deepStrictEqual(run(), []);
              },
              thenThrows(errorClass, message) {
                let result: Event[];
                try {
                  result = run();
                } catch (err) {
                  assert.ok(
                    err instanceof errorClass,
                    `expected ${errorClass.name}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
                  );
                  if (message !== undefined) assertMessage((err as Error).message, message);
                  return;
                }
                assert.fail(`expected ${errorClass.name}, but decide returned ${JSON.stringify(result)}`);
              },
            };
          },
        };
      },
    };
  },
};

function assertMessage(actual: string, matcher: MessageMatcher): void {
  if (typeof matcher === "string") assert.equal(actual, matcher);
  else if (matcher instanceof RegExp) assert.match(actual, matcher);
  else assert.ok(matcher(actual), `error message did not match: ${actual}`);
}
