import { InternalError } from "./errors";

/** Ends an exhaustive switch: the compiler proves it unreachable; at run time it means a corrupted value. */
export function assertNever(x: never, what = "value"): never {
  throw new InternalError(`unexpected ${what}: ${JSON.stringify(x)}`);
}
