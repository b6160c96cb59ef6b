/**
 * An event as a caller hands it to `appendToStream`. `eventId` is a UUID chosen by the caller
 * (retries reuse it; it is the dedupe key everywhere downstream). `data` and `metadata` must be
 * JSON-serialisable; they are stored as jsonb and come back parsed.
 */
export interface NewEvent {
  eventId: string;
  type: string;
  schemaVersion: number;
  data: unknown;
  metadata: Record<string, unknown>;
}

/**
 * An event as stored. `streamVersion` starts at 1 for a stream's first event and has no gaps;
 * `globalPosition` is unique and increasing in insert order, which is NOT commit order — use
 * `readAll` and its cursor, never `globalPosition`, to follow the global log.
 */
export interface RecordedEvent extends NewEvent {
  streamId: string;
  streamVersion: number;
  globalPosition: bigint;
  recordedAt: Date;
}

/**
 * The stream version an append requires:
 * - a number N: the stream's last event has version N (0 means the stream has no events);
 * - "no-stream": the stream has no events (same as 0);
 * - "any": no check; the events go after whatever is there.
 */
export type ExpectedVersion = number | "no-stream" | "any";
