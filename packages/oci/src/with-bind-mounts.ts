import { FailedPreconditionError, InvalidArgumentError } from "@shoal/domain";
import type { RroSupport } from "@shoal/domain";
import { edit, type Mount, type SpecOpt } from "./spec";

export type BindPropagation = "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave";

/** A user's host bind mount (`-v /host:/ctr[:ro]`). */
export interface BindMount {
  /** Absolute host path. Whether it is a file or a directory is not checked here. */
  readonly source: string;
  /** Absolute path inside the container. */
  readonly destination: string;
  readonly readonly?: boolean;
  /**
   * With `readonly`: `non-recursive` (default) makes only the top mount read-only (`ro`);
   * `recursive` makes every submount read-only too (`rro`: where the kernel has mount_setattr(2) and the runtime lists it).
   */
  readonly readonlyMode?: "non-recursive" | "recursive";
  /** Default `rprivate`. */
  readonly propagation?: BindPropagation;
}

/** Whether recursive read-only (`rro`) binds can be offered on this host, and if not, why (its home is @shoal/domain's host capabilities). */
export type { RroSupport };

/**
 * Adds the user's bind mounts as `rbind` mounts: `readonly` → `ro`, `readonlyMode:
 * "recursive"` → `rro`. A mount replaces any earlier mount at the same destination.
 * InvalidArgumentError for relative paths or `readonlyMode` without `readonly`;
 * FailedPreconditionError with `rro.reason` when a recursive read-only mount is asked for
 * and `rro` is unsupported (DESIGN: rro only where kernel and runtime both support it).
 */
export function withBindMounts(mounts: readonly BindMount[], options: { rro: RroSupport }): SpecOpt {
  const specMounts = mounts.map((m) => toSpecMount(m, options.rro));
  const destinations = new Set(specMounts.map((m) => m.destination));
  if (destinations.size !== specMounts.length) throw new InvalidArgumentError("two bind mounts have the same destination");
  return (spec) =>
    edit(spec, (s) => {
      s.mounts = [...(s.mounts ?? []).filter((m) => !destinations.has(m.destination)), ...specMounts];
    });
}

function toSpecMount(m: BindMount, rro: RroSupport): Mount {
  for (const p of [m.source, m.destination]) {
    if (!p.startsWith("/")) throw new InvalidArgumentError(`bind mount paths must be absolute, got ${JSON.stringify(p)}`);
  }
  if (m.readonlyMode !== undefined && !m.readonly) {
    throw new InvalidArgumentError(`bind mount ${m.destination}: readonlyMode needs readonly`);
  }
  const options = ["rbind", m.propagation ?? "rprivate"];
  if (m.readonly && m.readonlyMode === "recursive") {
    if (!rro.supported) throw new FailedPreconditionError(`bind mount ${m.destination}: ${rro.reason}`);
    options.push("rro");
  } else if (m.readonly) {
    options.push("ro");
  }
  return { destination: m.destination, type: "bind", source: m.source, options };
}

/**
 * Whether a runtime's `features` output (`runc features`, JSON) lists `rro` in
 * `mountOptions`. Accepts the JSON text or the parsed object. A runtime without
 * `mountOptions` does not support it. InvalidArgumentError for text that is not JSON.
 */
export function runtimeSupportsRro(features: string | unknown): boolean {
  let parsed: unknown = features;
  if (typeof features === "string") {
    try {
      parsed = JSON.parse(features);
    } catch (err) {
      throw new InvalidArgumentError("runtime features output is not JSON", { cause: err });
    }
  }
  const options = (parsed as { mountOptions?: unknown } | null)?.mountOptions;
  return Array.isArray(options) && options.includes("rro");
}

/**
 * Combines the two checks into the value withBindMounts needs, with the reason a user sees
 * when either is missing. `kernel` is what the host's probe found (the agent asks the kernel
 * with mount_setattr(2) on a scratch tmpfs, `HostOs.probeRecursiveReadOnly`, rather than
 * reading its version); `runtimeFeatures` is undefined when the runtime has no `features`
 * command (runc < 1.1), which means no rro.
 */
export function rroSupport(input: {
  readonly kernel: RroSupport;
  readonly runtimeName: string;
  readonly runtimeFeatures: string | unknown | undefined;
}): RroSupport {
  if (!input.kernel.supported) {
    return { supported: false, reason: `recursive read-only mounts are not available on this host: ${input.kernel.reason}` };
  }
  if (input.runtimeFeatures === undefined || !runtimeSupportsRro(input.runtimeFeatures)) {
    return { supported: false, reason: `runtime ${input.runtimeName} does not support rro` };
  }
  return { supported: true };
}
