/**
 * Resolving what a user typed (`web`, `/web`, `3f2a`, a full id) to one container, as
 * Docker does: an exact full id first, then an exact name, then a unique id prefix.
 */
import { InvalidArgumentError, NotFoundError, isContainerId, looksLikeIdPrefix, normalizeContainerRef } from "@shoal/domain";

/** A reserved name and its container. */
export type NamedContainer = { id: string; name: string };

/**
 * The normalised ref (one leading `/` removed). InvalidArgumentError when it is empty or
 * neither a valid name nor an id prefix.
 */
export function normalizeRef(ref: string): string {
  if (ref === "" || ref === "/") throw new InvalidArgumentError("a container name or id is required");
  const r = normalizeContainerRef(ref);
  if (r === undefined) throw new InvalidArgumentError(`invalid container name or id: ${ref}`);
  return r;
}

/** True when candidates whose id starts with `ref` should be looked up too. */
export function mayBeIdPrefix(ref: string): boolean {
  return looksLikeIdPrefix(ref);
}

/**
 * Picks the container `ref` names among `candidates` (every container whose name is
 * `ref` or whose id starts with `ref`). NotFoundError `No such container: <ref>` when none
 * matches; InvalidArgumentError `multiple IDs found with provided prefix: <ref>` when a
 * prefix matches several ids and nothing matches exactly.
 */
export function pickContainer(ref: string, candidates: readonly NamedContainer[]): NamedContainer {
  if (isContainerId(ref)) {
    const byId = candidates.find((c) => c.id === ref);
    if (byId) return byId;
  }
  const byName = candidates.find((c) => c.name === ref);
  if (byName) return byName;
  if (looksLikeIdPrefix(ref)) {
    const byPrefix = candidates.filter((c) => c.id.startsWith(ref));
    if (byPrefix.length === 1) return byPrefix[0]!;
    if (byPrefix.length > 1) throw new InvalidArgumentError(`multiple IDs found with provided prefix: ${ref}`);
  }
  throw new NotFoundError(`No such container: ${ref}`);
}
