/**
 * `/dev/shm` sizes (`--shm-size`, `default-shm-size`), in bytes.
 */
import { InvalidArgumentError, InternalError } from "./errors";
import { assertNever } from "./assert-never";
import type { IpcMode, ResolvedIpcMode } from "./ipc-mode";

/** Size of a container's /dev/shm when neither the container nor the daemon sets one: 64 MiB. */
export const DEFAULT_SHM_SIZE_BYTES = 64 * 1024 * 1024;

const UNIT_BYTES: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
// A non-negative decimal, then an optional unit: b, k, m, g, and also kb, mb, gb
// (as Docker's go-units accepts), case-insensitive. No sign, no spaces, no exponent.
const SIZE_PATTERN = /^(\d+)(?:\.(\d+))?([bkmg]|[kmg]b)?$/i;

/**
 * Parses a byte size as Docker's go-units does for `--shm-size` and `--memory`. A number
 * is bytes; a string is a number with an optional unit `b`, `k`, `m`, `g` (also `kb`,
 * `mb`, `gb`), case-insensitive, 1024-based (`64m` is 64 MiB). A fraction is allowed only
 * with a k/m/g unit and must come to whole bytes (`1.5k` is 1536; `1.1k` is refused
 * rather than silently truncated). `0`, `""` and `undefined` all mean "not set" and
 * return undefined. Negative, fractional bytes, unknown units, garbage, or more than
 * 2^53-1 bytes throw InvalidArgumentError `invalid <what>: <input>`.
 */
export function parseByteSize(s: string | number | undefined, what: string): number | undefined {
  if (s === undefined || s === "") return undefined;
  const invalid = () => new InvalidArgumentError(`invalid ${what}: ${s}`);
  if (typeof s === "number") {
    if (!Number.isSafeInteger(s) || s < 0) throw invalid();
    return s === 0 ? undefined : s;
  }
  const m = SIZE_PATTERN.exec(s);
  if (!m) throw invalid();
  const [, whole = "", fraction, unitText = ""] = m;
  const unit = unitText.toLowerCase();
  const multiplier = UNIT_BYTES[unit.length === 2 ? unit[0]! : unit];
  if (multiplier === undefined) throw invalid();
  if (fraction !== undefined && multiplier === 1) throw invalid();
  // Exact arithmetic: (whole.fraction) * multiplier must be an integer.
  const scale = 10n ** BigInt(fraction?.length ?? 0);
  const numerator = BigInt(whole + (fraction ?? "")) * BigInt(multiplier);
  if (numerator % scale !== 0n) throw invalid();
  const bytes = numerator / scale;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid();
  return bytes === 0n ? undefined : Number(bytes);
}

/** A `--shm-size` (see parseByteSize); InvalidArgumentError `invalid shm size: <input>`. */
export function parseShmSize(s: string | number | undefined): number | undefined {
  return parseByteSize(s, "shm size");
}

/**
 * Refuses a shm size that cannot apply to the mode: a member (`container:<x>`) uses its
 * owner's /dev/shm, and `host` uses the host's. Both throw InvalidArgumentError.
 * With `none` there is no /dev/shm and a size is accepted but unused; with `default`,
 * `private` and `shareable` the size applies.
 */
export function validateShmSizeForMode(mode: IpcMode, size: number | undefined): void {
  if (size === undefined) return;
  if (mode.kind === "container") {
    throw new InvalidArgumentError(
      `shm size cannot be set for a container that joins another's IPC namespace (container:${mode.ref})`,
    );
  }
  if (mode.kind === "host") {
    throw new InvalidArgumentError("shm size cannot be set with IPC mode host: the host's /dev/shm is used");
  }
}

/** What decides a container's /dev/shm size. */
export type EffectiveShmSizeInput = {
  mode: ResolvedIpcMode;
  /** The container's own `--shm-size` in bytes, undefined when not set. */
  requested: number | undefined;
  /** The daemon's `default-shm-size` in bytes, undefined when not configured. */
  daemonDefault?: number | undefined;
  /** For a member: the owner's effective size. Required when `mode` is `container`. */
  ownerEffective?: number | undefined;
};

/**
 * The size of the tmpfs behind the container's /dev/shm, in bytes, or undefined when
 * Shoal makes none (`none`, `host`). `private`/`shareable`: own size, else the daemon
 * default, else 64 MiB. A member inherits its owner's size; calling this for a member
 * without `ownerEffective` is a bug (InternalError).
 */
export function effectiveShmSize(input: EffectiveShmSizeInput): number | undefined {
  switch (input.mode.kind) {
    case "none":
    case "host":
      return undefined;
    case "private":
    case "shareable":
      return input.requested ?? input.daemonDefault ?? DEFAULT_SHM_SIZE_BYTES;
    case "container":
      if (input.ownerEffective === undefined) {
        throw new InternalError(`the owner's shm size is needed to size a member (container:${input.mode.ref})`);
      }
      return input.ownerEffective;
    default:
      return assertNever(input.mode, "IPC mode");
  }
}
