import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import type { JetStreamManager, StreamConfig, StreamInfo } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { FailedPreconditionError, UnavailableError } from "@shoal/domain";
import { assertSubjectPrefix, eventsFilter, hostReportsFilter } from "./subjects";

/** How long JetStream remembers a `Nats-Msg-Id`: a republish within this window is a no-op. */
export const EVENTS_DUPLICATE_WINDOW_MS = 2 * 60_000;
/** Reports are kept this long after they were written (they are recorded as events well before). */
export const REPORTS_MAX_AGE_MS = 7 * 24 * 60 * 60_000;
/** How long the reports stream remembers a report id. */
export const REPORTS_DUPLICATE_WINDOW_MS = 2 * 60_000;

/** `<PREFIX>_EVENTS` (upper-cased, `-` → `_`). */
export function eventsStreamName(prefix: string): string {
  assertSubjectPrefix(prefix);
  return `${prefix.toUpperCase().replace(/-/g, "_")}_EVENTS`;
}

/** `<PREFIX>_REPORTS` (upper-cased, `-` → `_`). */
export function reportsStreamName(prefix: string): string {
  assertSubjectPrefix(prefix);
  return `${prefix.toUpperCase().replace(/-/g, "_")}_REPORTS`;
}

type DesiredStream = Pick<
  StreamConfig,
  "name" | "subjects" | "retention" | "storage" | "discard" | "duplicate_window" | "max_age" | "num_replicas" | "description"
>;

/**
 * The stream configurations Shoal needs under `prefix`.
 *
 * Events: limits retention with no age limit. The Postgres event store is the source
 * of truth; the stream is the fan-out log every durable consumer reads at its own
 * pace, so nothing may disappear because one consumer acked it.
 *
 * Reports: limits retention with a 7-day age limit, not work-queue. The api records
 * each report as an event (idempotently, keyed by report id), so the stream need not
 * delete on ack to stay correct; keeping reports for a while lets an operator or a
 * second durable (an audit tap, a reconciler being debugged) read them again, which
 * work-queue retention forbids (on 2.9 it refuses overlapping consumers and deletes
 * on the first ack). Storage stays bounded by `max_age`.
 */
export function desiredStreams(prefix: string): { events: DesiredStream; reports: DesiredStream } {
  return {
    events: {
      name: eventsStreamName(prefix),
      description: "Shoal domain events, published by the outbox relay",
      subjects: [eventsFilter(prefix)],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      duplicate_window: nanos(EVENTS_DUPLICATE_WINDOW_MS),
      max_age: 0,
      num_replicas: 1,
    },
    reports: {
      name: reportsStreamName(prefix),
      description: "Facts reported by Shoal runtime agents",
      subjects: [hostReportsFilter(prefix)],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      duplicate_window: nanos(REPORTS_DUPLICATE_WINDOW_MS),
      max_age: nanos(REPORTS_MAX_AGE_MS),
      num_replicas: 1,
    },
  };
}

/** Names of the streams `ensureStreams` made sure of. */
export interface EnsuredStreams {
  events: string;
  reports: string;
}

/**
 * Creates the events and reports streams for `prefix`, or brings existing ones to
 * the desired configuration. Safe to call on every service start and concurrently
 * from several services.
 *
 * Errors: FailedPreconditionError when an existing stream differs in something
 * JetStream cannot change in place (storage or retention); it is left untouched.
 * UnavailableError when JetStream does not answer.
 */
export async function ensureStreams(jsm: JetStreamManager, prefix: string): Promise<EnsuredStreams> {
  const desired = desiredStreams(prefix);
  await ensureStream(jsm, desired.events);
  await ensureStream(jsm, desired.reports);
  return { events: desired.events.name, reports: desired.reports.name };
}

/** Deletes both streams of `prefix` (for tests and teardown). Missing streams are fine. */
export async function deleteStreams(jsm: JetStreamManager, prefix: string): Promise<void> {
  for (const name of [eventsStreamName(prefix), reportsStreamName(prefix)]) {
    try {
      await jsm.streams.delete(name);
    } catch (err) {
      if (!isStreamNotFound(err)) throw new UnavailableError(`could not delete stream ${name}`, { cause: err });
    }
  }
}

async function ensureStream(jsm: JetStreamManager, want: DesiredStream): Promise<StreamInfo> {
  const existing = await infoOrUndefined(jsm, want.name);
  if (existing === undefined) {
    try {
      return await jsm.streams.add(want);
    } catch (err) {
      // Another service may have created it between our info and add.
      const raced = await infoOrUndefined(jsm, want.name);
      if (raced === undefined) throw new UnavailableError(`could not create stream ${want.name}`, { cause: err });
      return reconcile(jsm, want, raced);
    }
  }
  return reconcile(jsm, want, existing);
}

async function reconcile(jsm: JetStreamManager, want: DesiredStream, have: StreamInfo): Promise<StreamInfo> {
  const c = have.config;
  if (c.storage !== want.storage || c.retention !== want.retention) {
    throw new FailedPreconditionError(
      `stream ${want.name} exists with storage=${c.storage} retention=${c.retention}; ` +
        `Shoal needs storage=${want.storage} retention=${want.retention} (delete or migrate the stream)`,
    );
  }
  const same =
    sameSubjects(c.subjects, want.subjects) &&
    c.discard === want.discard &&
    c.duplicate_window === want.duplicate_window &&
    c.max_age === want.max_age &&
    (c.description ?? "") === (want.description ?? "");
  if (same) return have;
  try {
    return await jsm.streams.update(want.name, {
      ...c,
      subjects: want.subjects,
      discard: want.discard,
      duplicate_window: want.duplicate_window,
      max_age: want.max_age,
      description: want.description,
    });
  } catch (err) {
    throw new UnavailableError(`could not update stream ${want.name}`, { cause: err });
  }
}

async function infoOrUndefined(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (isStreamNotFound(err)) return undefined;
    throw new UnavailableError(`could not read stream ${name}`, { cause: err });
  }
}

function sameSubjects(a: string[] | undefined, b: string[]): boolean {
  const x = [...(a ?? [])].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((s, i) => s === y[i]);
}

function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}
