/**
 * Waiting for a container's stream to reach a state (Start, Stop, Wait). One core NATS
 * subscription on `<prefix>.evt.container.>` per process wakes the waiters of the stream
 * an event belongs to; each waiter then re-reads the stream from Postgres (the source of
 * truth), so a lost or reordered message costs at most one poll interval, never a wrong
 * answer. Register (`watch`) before appending, then `until`: nothing can slip between.
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { EVENT_HEADERS, eventsFilter } from "@shoal/bus";
import { UnavailableError, containerStreamId } from "@shoal/domain";
import type { EventStore } from "@shoal/event-store";
import { readContainer } from "./container-record";
import type { ContainerRecord } from "./container-record";

export interface ContainerWatch {
  /**
   * Resolves with the first non-undefined `done(record)`, checked now and after every
   * event of the stream (and every poll interval). UnavailableError `<what>: no answer
   * within <n> ms` after `timeoutMs`. Closes the watch when it settles.
   */
  until<T>(done: (r: ContainerRecord) => T | undefined, timeoutMs: number, what: string): Promise<T>;
  close(): void;
}

export interface ContainerWatcher {
  /** Starts listening for `containerId`'s events at once (before the caller appends). */
  watch(containerId: string): ContainerWatch;
  close(): Promise<void>;
}

export async function createContainerWatcher(opts: {
  nc: NatsConnection;
  prefix: string;
  store: EventStore;
  /** Re-read at least this often while waiting (default 1000 ms). */
  pollMs?: number;
}): Promise<ContainerWatcher> {
  const { store } = opts;
  const pollMs = opts.pollMs ?? 1000;
  const waiters = new Map<string, Set<() => void>>();
  const sub: Subscription = opts.nc.subscribe(eventsFilter(opts.prefix, "container"), {
    callback: (err, msg) => {
      if (err) return;
      const streamId = msg.headers?.get(EVENT_HEADERS.streamId);
      if (!streamId) return;
      for (const wake of waiters.get(streamId) ?? []) wake();
    },
  });
  // The subscription is in place at the server before anyone relies on it.
  await opts.nc.flush();

  return {
    watch(containerId) {
      const streamId = containerStreamId(containerId);
      let pending = true;
      let wakeUp: (() => void) | undefined;
      const wake = () => {
        pending = true;
        wakeUp?.();
      };
      let set = waiters.get(streamId);
      if (set === undefined) waiters.set(streamId, (set = new Set()));
      set.add(wake);
      const close = () => {
        set!.delete(wake);
        if (set!.size === 0 && waiters.get(streamId) === set) waiters.delete(streamId);
      };
      return {
        close,
        async until(done, timeoutMs, what) {
          const deadline = Date.now() + timeoutMs;
          try {
            for (;;) {
              pending = false;
              const result = done(await readContainer(store, containerId));
              if (result !== undefined) return result;
              const left = deadline - Date.now();
              if (left <= 0) throw new UnavailableError(`${what}: no answer within ${timeoutMs} ms`);
              if (!pending) {
                let timer: NodeJS.Timeout | undefined;
                await new Promise<void>((resolve) => {
                  wakeUp = resolve;
                  timer = setTimeout(resolve, Math.min(pollMs, left));
                });
                clearTimeout(timer);
                wakeUp = undefined;
              }
            }
          } finally {
            close();
          }
        },
      };
    },
    async close() {
      if (!sub.isClosed()) sub.unsubscribe();
      waiters.clear();
    },
  };
}
