/** A `google.protobuf.Timestamp` as proto-loader hands it over (seconds as number, string or Long, by its `longs` option). */
export interface TimestampLike {
  seconds?: number | string | { toString(): string } | null;
  nanos?: number | null;
}

/** The Date a Timestamp names; undefined for an unset (null) one. */
export function timestampToDate(ts: TimestampLike | null | undefined): Date | undefined {
  if (ts === null || ts === undefined) return undefined;
  const seconds = Number(ts.seconds === null || ts.seconds === undefined ? 0 : String(ts.seconds));
  return new Date(seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6));
}

/** A Timestamp for `date`, millisecond precision. */
export function dateToTimestamp(date: Date): { seconds: number; nanos: number } {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1e6 };
}
