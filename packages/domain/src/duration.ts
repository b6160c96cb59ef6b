/**
 * Durations as Docker and Go write them (`15s`, `1m30s`, `500ms`), in milliseconds: the
 * daemon config's timeouts and `--stop-on-disconnect`.
 */

const DURATION_UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
const DURATION_WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|h|m|s))+$/;

/**
 * Milliseconds from a Go-style duration (`15s`, `1m30s`, `500ms`, `1.5s`) or a number of
 * milliseconds. The result must be a whole, positive number of milliseconds.
 */
export function parseDurationMs(v: string | number): number {
  const invalid = () =>
    new Error(`invalid duration ${JSON.stringify(v)} (want milliseconds or a duration like "15s", "1m30s", "500ms")`);
  let ms: number;
  if (typeof v === "number") {
    ms = v;
  } else {
    if (!DURATION_WHOLE.test(v)) throw invalid();
    let total = 0n;
    for (const [, amount = "", unit = ""] of v.matchAll(DURATION_PART)) {
      // Exact decimal arithmetic: "1.1s" is 1100 ms, not 1100.0000000000002.
      const [whole = "", fraction = ""] = amount.split(".");
      const scale = 10n ** BigInt(fraction.length);
      const numerator = BigInt(whole + fraction) * BigInt(DURATION_UNITS[unit]!);
      if (numerator % scale !== 0n) throw invalid();
      total += numerator / scale;
    }
    if (total > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid();
    ms = Number(total);
  }
  if (!Number.isSafeInteger(ms) || ms <= 0) throw invalid();
  return ms;
}

/** Canonical duration text, largest units first, zero parts left out: `15s`, `1m30s`, `1h500ms`. */
export function formatDurationMs(ms: number): string {
  let rest = ms;
  let out = "";
  for (const unit of ["h", "m", "s", "ms"] as const) {
    const size = DURATION_UNITS[unit]!;
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) out += `${n}${unit}`;
  }
  return out;
}
