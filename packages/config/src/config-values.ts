/**
 * Parsers and canonical formatters for the scalar values of daemon.json.
 * Each parser throws a plain Error whose message is the reason (no key, no prefix);
 * the schema turns it into one line of an InvalidArgumentError. Shm sizes are parsed by
 * `parseShmSize` from @shoal/domain.
 */

/** The shortest exact text for a size: `64m`, `1g`, `512k`, else the byte count as a number. */
export function formatShmSize(bytes: number): string | number {
  for (const [unit, size] of [["g", 1024 ** 3], ["m", 1024 ** 2], ["k", 1024]] as const) {
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return bytes;
}

export { formatDurationMs, parseDurationMs } from "@shoal/domain";
