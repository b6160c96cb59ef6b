/**
 * Waiting for a container's stream to reach a state (Start, Stop, Wait). One core NATS
 * subscription on `<prefix>.evt.container.>` per process wakes the waiters of the stream
 * an event belongs to. A waiter may answer from the published event itself (`fromEvent`,
 * given the record so far); otherwise it folds the event onto that record when it is the
 * next version, and re-reads the stream from Postgres (the source of truth) when one is
 * missing or unreadable, so a lost or reordered message costs a read or at most one poll
 * interval, never a wrong answer. Register (`watch`) before appending, then `until`:
 * nothing can slip between.
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { EVENT_HEADERS, decodeEventMessage, eventsFilter } from "@shoal/bus";
import type { EventEnvelope } from "@shoal/bus";
import { UnavailableError, containerStreamId } from "@shoal/domain";
import type { EventStore } from "@shoal/event-store";
import { foldContainer, readContainer } from "./container-record";
import type { ContainerRecord } from "./container-record";

export interface ContainerWatch {
  /**
   * Resolves with the first non-undefined `done(record)`, checked now and after every
   * event of the stream (and every poll interval), or with `fromEvent(event, last record
   * read)` for a published event. UnavailableError `<what>: no answer within <n> ms`
   * after `timeoutMs`. Closes the watch when it settles.
   */
  until<T>(
    done: (r: ContainerRecord) => T | undefined,
    timeoutMs: number,
    what: string,
    fromEvent?: (event: EventEnvelope, last: ContainerRecord) => T | undefined,
    /**
     * The record as of an append this caller made after `watch` (so nothing later can
     * have been missed): used instead of the first read.
     */
    current?: ContainerRecord,
  ): Promise<T>;
  close(): void;
}

export interface ContainerWatcher {
  /** Starts listening for `containerId`'s events at once (before the caller appends). */
  watch(containerId: string): ContainerWatch;
  /**
   * Wakes the waiters of `event`'s stream with an event this process has just committed,
   * before NATS brings the published copy (which is then skipped as already folded).
   */
  deliver(event: EventEnvelope): void;
  close(): Promise<void>;
}

type Waiter = (event: EventEnvelope | undefined) => void;

export async function createContainerWatcher(opts: {
  nc: NatsConnection;
  prefix: string;
  store: EventStore;
  /** Re-read at least this often while waiting (default 1000 ms). */
  pollMs?: number;
}): Promise<ContainerWatcher> {
  const { store } = opts;
  const pollMs = opts.pollMs ?? 1000;
  const waiters = new Map<string, Set<Waiter>>();
  const sub: Subscription = opts.nc.subscribe(eventsFilter(opts.prefix, "container"), {
    callback: (err, msg) => {
      if (err) return;
      const streamId = msg.headers?.get(EVENT_HEADERS.streamId);
      const set = streamId ? waiters.get(streamId) : undefined;
      if (!set) return;
      let event: EventEnvelope | undefined;
      try {
        event = decodeEventMessage(msg);
      } catch {
        event = undefined;
      }
      for (const wake of set) wake(event);
    },
  });
  // The subscription is in place at the server before anyone relies on it.
  await opts.nc.flush();

  return {
    deliver(event) {
      const set = waiters.get(event.streamId);
      if (set) for (const wake of [...set]) wake(event);
    },
    watch(containerId) {
      const streamId = containerStreamId(containerId);
      /** Published events not folded yet, in arrival order. */
      const events: EventEnvelope[] = [];
      /** A wake-up that carried no readable event, or a poll: only a read from the log will do. */
      let mustRead = false;
      let wakeUp: (() => void) | undefined;
      const wake: Waiter = (event) => {
        if (event) events.push(event);
        else mustRead = true;
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
        async until(done, timeoutMs, what, fromEvent, current) {
          const deadline = Date.now() + timeoutMs;
          // Published events are folded onto the record in stream order (no read per event on
          // the start path); an event out of sequence (one was missed) means a fresh read.
          let last: ContainerRecord | undefined = current;
          try {
            for (;;) {
              if (last === undefined || mustRead) {
                mustRead = false;
                events.length = 0;
                last = await readContainer(store, containerId);
              } else {
                for (const e of events.splice(0)) {
                  const answer = fromEvent?.(e, last);
                  if (answer !== undefined) return answer;
                  if (e.streamVersion <= last.version) continue;
                  if (e.streamVersion !== last.version + 1) {
                    mustRead = true;
                    break;
                  }
                  last = foldContainer([e], last);
                }
                if (mustRead) continue;
              }
              const result = done(last);
              if (result !== undefined) return result;
              const left = deadline - Date.now();
              if (left <= 0) throw new UnavailableError(`${what}: no answer within ${timeoutMs} ms`);
              if (events.length === 0 && !mustRead) {
                let timer: NodeJS.Timeout | undefined;
                const polled = await new Promise<boolean>((resolve) => {
                  wakeUp = () => resolve(false);
                  timer = setTimeout(() => resolve(true), Math.min(pollMs, left));
                });
                clearTimeout(timer);
                wakeUp = undefined;
                if (polled) mustRead = true;
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
