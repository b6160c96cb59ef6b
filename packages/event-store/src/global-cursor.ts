import { InvalidArgumentError } from "@shoal/domain";

/**
 * A position in the global event order. Opaque to callers: store it, hand it back to
 * `readAll({after})`, compare it only for equality. It encodes the writing transaction's id and
 * the event's global position; events are released in cursor order, and once an event has been
 * returned no event will ever appear before its cursor.
 */
export type GlobalCursor = string & { readonly __brand: "GlobalCursor" };

/** The cursor before the first event: `readAll({after: globalCursorStart})` reads from the start. */
export const globalCursorStart = "0.0" as GlobalCursor;

/** The decoded parts of a cursor; internal to the store. */
export interface CursorParts {
  transactionId: bigint;
  globalPosition: bigint;
}

export function encodeGlobalCursor(parts: CursorParts): GlobalCursor {
  if (parts.transactionId < 0n || parts.globalPosition < 0n) {
    throw new InvalidArgumentError(`global cursor parts must be non-negative`);
  }
  return `${parts.transactionId}.${parts.globalPosition}` as GlobalCursor;
}

const cursorPattern = /^(0|[1-9][0-9]{0,19})\.(0|[1-9][0-9]{0,18})$/;
const maxXid8 = 2n ** 64n - 1n;
const maxBigint = 2n ** 63n - 1n;

/**
 * Accepts a cursor received from outside (a client's resume cursor). Throws InvalidArgumentError
 * when the text is not a cursor this store produced.
 */
export function parseGlobalCursor(text: string): GlobalCursor {
  decodeGlobalCursor(text);
  return text as GlobalCursor;
}

export function decodeGlobalCursor(text: string): CursorParts {
  const match = cursorPattern.exec(text);
  if (!match) throw new InvalidArgumentError(`not a global cursor: ${JSON.stringify(text)}`);
  const transactionId = BigInt(match[1]!);
  const globalPosition = BigInt(match[2]!);
  if (transactionId > maxXid8 || globalPosition > maxBigint) {
    throw new InvalidArgumentError(`global cursor out of range: ${JSON.stringify(text)}`);
  }
  return { transactionId, globalPosition };
}
