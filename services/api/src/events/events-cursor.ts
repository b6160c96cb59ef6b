import { InvalidArgumentError } from "@shoal/domain";

/**
 * Event cursors are opaque to clients: `js:<n>` names the n-th message of the JetStream
 * events stream (`<PREFIX>_EVENTS`). Resuming after `js:<n>` delivers message n+1 onward.
 * The format may change; clients only store and hand back what they were given.
 */
const CURSOR = /^js:(0|[1-9][0-9]{0,15})$/;

/** The cursor of the event stored at stream sequence `seq`. */
export function formatEventCursor(seq: number): string {
  return `js:${seq}`;
}

/** The stream sequence a cursor names; InvalidArgumentError `malformed cursor …` otherwise. */
export function parseEventCursor(cursor: string): number {
  const m = CURSOR.exec(cursor);
  const seq = m === null ? NaN : Number(m[1]);
  if (!Number.isSafeInteger(seq)) {
    throw new InvalidArgumentError(`malformed cursor ${JSON.stringify(cursor)}: pass a cursor from a previous event, or none`);
  }
  return seq;
}
