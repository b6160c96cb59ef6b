/**
 * Container names as Docker accepts them: `^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`, so at least two
 * characters (Docker refuses `a` with the same message as `-a`).
 * Docker stores names with a leading `/` and accepts one from users; Shoal strips a
 * single leading `/` on input and never stores or prints it. Uniqueness is not a
 * property of a name alone: the api reserves names across containers.
 */
import { InvalidArgumentError } from "./errors";

const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** What may name a container in a reference: a name, or an id prefix of any length. */
const REF_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** True when `s` (without a leading `/`) is a valid container name. */
export function isValidContainerName(s: string): boolean {
  return NAME_PATTERN.test(s);
}

/**
 * The stored form of a user-given name: one leading `/` removed.
 * Throws InvalidArgumentError `Invalid container name (<s>), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`
 * (Docker's wording) when the rest is not a valid name.
 */
export function normalizeContainerName(s: string): string {
  const name = s.startsWith("/") ? s.slice(1) : s;
  if (!NAME_PATTERN.test(name)) {
    throw new InvalidArgumentError(`Invalid container name (${s}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name;
}

/**
 * A reference to a container by name or id (prefix), as in `container:<ref>`: one
 * leading `/` removed. Returns undefined when the rest is neither a valid name nor id.
 * Ids are lowercase hex and so always match the name pattern.
 */
export function normalizeContainerRef(s: string): string | undefined {
  const ref = s.startsWith("/") ? s.slice(1) : s;
  return REF_PATTERN.test(ref) ? ref : undefined;
}
