/**
 * A container's resource limits, as Docker's `--memory` and `--cpus` set them. Placement
 * reserves them on a host; the agent writes them into the OCI spec as cgroup limits.
 */
import { InvalidArgumentError } from "./errors";
import { parseByteSize } from "./shm-size";

/** The smallest memory limit Docker accepts (6 MiB): below it a container cannot start. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;

/** CPUs are counted in billionths, as Docker's `NanoCpus`. */
export const NANO_CPUS_PER_CPU = 1_000_000_000;

/** The smallest CPU limit Docker accepts: 0.01 CPU. */
export const MIN_NANO_CPUS = NANO_CPUS_PER_CPU / 100;

/**
 * `--memory`: bytes, or a number with a unit (`512m`, `1g`; see parseByteSize). `0`, `""`
 * and undefined mean unlimited (undefined). InvalidArgumentError for garbage, a negative
 * size, or less than 6 MiB ("Minimum memory limit allowed is 6MB", as Docker says).
 */
export function parseMemory(s: string | number | undefined): number | undefined {
  const bytes = parseByteSize(s, "memory limit");
  if (bytes !== undefined && bytes < MIN_MEMORY_BYTES) {
    throw new InvalidArgumentError(`invalid memory limit: ${s}: Minimum memory limit allowed is 6MB`);
  }
  return bytes;
}

const CPUS_PATTERN = /^(\d+)(?:\.(\d+))?$/;

/**
 * `--cpus`: a decimal number of CPUs (`1.5`), returned as nano-CPUs (1.5 → 1 500 000 000).
 * A number is taken as CPUs too. `0`, `""` and undefined mean unlimited (undefined).
 * InvalidArgumentError for garbage, a sign, an exponent, more than nine decimals, less
 * than 0.01 CPU, or more than 2^53-1 nano-CPUs.
 */
export function parseCpus(s: string | number | undefined): number | undefined {
  if (s === undefined || s === "") return undefined;
  const text = typeof s === "number" ? (Number.isFinite(s) ? String(s) : "NaN") : s;
  const m = CPUS_PATTERN.exec(text);
  if (m === null) throw new InvalidArgumentError(`invalid cpus: ${s}: must be a decimal number of CPUs, such as 1.5`);
  const [, whole = "", fraction = ""] = m;
  if (fraction.length > 9) throw new InvalidArgumentError(`invalid cpus: ${s}: at most nine decimals`);
  const nano = BigInt(whole) * BigInt(NANO_CPUS_PER_CPU) + BigInt(fraction.padEnd(9, "0") || "0");
  if (nano === 0n) return undefined;
  if (nano > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidArgumentError(`invalid cpus: ${s}: too large`);
  if (nano < BigInt(MIN_NANO_CPUS)) throw new InvalidArgumentError(`invalid cpus: ${s}: the smallest CPU limit is 0.01`);
  return Number(nano);
}

/** `1500000000` → `"1.5"`: nano-CPUs as Docker's `--cpus` text. */
export function formatCpus(nanoCpus: number): string {
  const whole = Math.floor(nanoCpus / NANO_CPUS_PER_CPU);
  const fraction = String(nanoCpus % NANO_CPUS_PER_CPU).padStart(9, "0").replace(/0+$/, "");
  return fraction === "" ? String(whole) : `${whole}.${fraction}`;
}

/**
 * The CFS quota that caps a container at `nanoCpus` over Docker's 100 ms period:
 * `--cpus 1.5` is 150 000 µs of CPU time per 100 000 µs.
 */
export function cpuQuota(nanoCpus: number): { quotaMicros: number; periodMicros: number } {
  const periodMicros = 100_000;
  return { quotaMicros: Math.round((nanoCpus * periodMicros) / NANO_CPUS_PER_CPU), periodMicros };
}
