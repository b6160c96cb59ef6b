/**
 * Work this process is doing, or did lately, by key (a start attempt, a report id, an event
 * handled on a fast path): one promise per key, kept a while after it settles so a late
 * duplicate (a redelivery, the other of two paths) finds it. A rejected promise is dropped at
 * once, so a retry may run.
 */
export interface RecentWork<T> {
  /** The promise under `key`, while it runs and for a while after it resolved. */
  get(key: string): Promise<T> | undefined;
  /** `key`'s promise if there is one; otherwise runs `start` and keeps its promise under `key`. */
  once(key: string, start: () => Promise<T>): Promise<T>;
}

/** Values kept for one later use each: `take` returns a key's value once; unused ones go after `keptMs`. */
export interface KeptForOnce<T> {
  put(key: string, value: T): void;
  take(key: string): T | undefined;
}

export function createKeptForOnce<T>(keptMs: number): KeptForOnce<T> {
  const byKey = new Map<string, T>();
  return {
    put(key, value) {
      byKey.set(key, value);
      setTimeout(() => {
        if (byKey.get(key) === value) byKey.delete(key);
      }, keptMs).unref();
    },
    take(key) {
      const value = byKey.get(key);
      byKey.delete(key);
      return value;
    },
  };
}

export function createRecentWork<T>(keptMs: number): RecentWork<T> {
  const byKey = new Map<string, Promise<T>>();
  return {
    get: (key) => byKey.get(key),
    once(key, start) {
      const earlier = byKey.get(key);
      if (earlier !== undefined) return earlier;
      const running = start().then(
        (value) => {
          setTimeout(() => byKey.delete(key), keptMs).unref();
          return value;
        },
        (err: unknown) => {
          byKey.delete(key);
          throw err;
        },
      );
      byKey.set(key, running);
      return running;
    },
  };
}
