/**
 * Immutable config snapshots and the holder that swaps them.
 *
 * Contract for callers: read `holder.current()` ONCE at the start of an operation and
 * pass that snapshot along to everything the operation does. Never call `current()`
 * again mid-operation: a reload may swap the snapshot at any await, and an operation
 * that mixes two versions (say the runtime of one and the shm size of another) is a
 * bug. A container records `snapshot.version` as the config version it started with.
 */
import { InvalidArgumentError } from "@shoal/domain";
import type { DaemonConfig } from "./daemon-config";

/** One version of the daemon config. Deeply frozen: any write throws a TypeError. */
export type ConfigSnapshot = Readonly<{ version: number; config: DaemonConfig }>;

const ours = new WeakSet<object>();

/**
 * A deeply frozen snapshot holding a private copy of `config`. `version` is the config
 * aggregate's version: 0 for the built-in defaults (no event yet), then +1 per change.
 * A version that is not a non-negative safe integer throws InvalidArgumentError.
 */
export function createConfigSnapshot(version: number, config: DaemonConfig): ConfigSnapshot {
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new InvalidArgumentError(`config version must be a non-negative integer, got ${version}`);
  }
  const snapshot = deepFreeze({ version, config: structuredClone(config) });
  ours.add(snapshot);
  return snapshot;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

/** Called after a swap took effect, with the new and the replaced snapshot. */
export type ConfigChangeListener = (next: ConfigSnapshot, previous: ConfigSnapshot) => void;

export type SwapResult =
  | {
      swapped: true;
      previous: ConfigSnapshot;
      /** What listeners threw; the swap stands regardless. The caller logs these. */
      listenerErrors: unknown[];
    }
  /** `next.version` was not newer than the current one; nothing changed, nobody was told. */
  | { swapped: false; current: ConfigSnapshot; reason: "stale" };

export interface ConfigHolder {
  /** The snapshot in force. Read it once per operation (see the module comment). */
  current(): ConfigSnapshot;
  /**
   * Makes `next` current if its version is greater than the current version; an older
   * or equal version is ignored and reported as `{swapped: false, reason: "stale"}`
   * (events can arrive twice or out of order). The stored snapshot is always deeply
   * frozen; a snapshot not made by createConfigSnapshot is copied first.
   * Listeners run synchronously, in registration order, after the swap took effect.
   */
  swap(next: ConfigSnapshot): SwapResult;
  /** Registers a listener; the returned function unregisters it. */
  onChange(listener: ConfigChangeListener): () => void;
}

/** A holder starting at `initial` (for a fresh system: version 0 and the defaults). */
export function createConfigHolder(initial: ConfigSnapshot): ConfigHolder {
  let current = own(initial);
  const listeners = new Set<ConfigChangeListener>();
  return {
    current: () => current,
    swap(next) {
      if (next.version <= current.version) return { swapped: false, current, reason: "stale" };
      const previous = current;
      current = own(next);
      const listenerErrors: unknown[] = [];
      for (const listener of [...listeners]) {
        try {
          listener(current, previous);
        } catch (err) {
          listenerErrors.push(err);
        }
      }
      return { swapped: true, previous, listenerErrors };
    },
    onChange(listener) {
      // A wrapper per registration, so registering the same function twice needs two unsubscribes.
      const registered: ConfigChangeListener = (n, p) => listener(n, p);
      listeners.add(registered);
      return () => {
        listeners.delete(registered);
      };
    },
  };
}

function own(snapshot: ConfigSnapshot): ConfigSnapshot {
  return ours.has(snapshot) ? snapshot : createConfigSnapshot(snapshot.version, snapshot.config);
}
