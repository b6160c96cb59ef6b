/**
 * Runtime wrapper scripts, the pure part: script text, content-addressed names, the
 * locked-in runtime a container records, and the plan for removing stale wrappers.
 *
 * containerd's runc shim takes a runtime binary name (Options.BinaryName), not
 * arguments. A runtime configured with `runtimeArgs` is therefore run through a small
 * shell script that execs the binary with those arguments first. The script's file
 * name is `runtime-<sha256 of the script>`: the same runtime always maps to the same
 * file, a changed runtime to a new file, and a file's content never changes. Writing
 * the files is wrapper-store.ts.
 */
import { createHash } from "node:crypto";
import posixPath from "node:path/posix";
import { InvalidArgumentError } from "@shoal/domain";
import type { LockedInRuntime } from "@shoal/domain";
import type { ConfigSnapshot } from "./config-snapshot";
import type { RuntimeConfig } from "./daemon-config";

const WRAPPER_PREFIX = "runtime-";
const WRAPPER_NAME = /^runtime-[0-9a-f]{64}$/;
/** Temporary files of wrapper-store.ts: `.runtime-<sha>.tmp-<unique>`. */
const TEMP_NAME = /^\.runtime-[0-9a-f]{64}\.tmp-[A-Za-z0-9-]+$/;

/** Quotes one word for POSIX sh: inside single quotes nothing is special but `'` itself. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The wrapper script for a runtime: `#!/bin/sh`, then one `exec` of the binary with the
 * runtime's arguments, then every argument the wrapper itself was called with ("$@").
 * Each word is single-quoted, so any byte but NUL passes through unchanged. A NUL in the
 * path or an argument cannot be passed to a program: InvalidArgumentError.
 */
export function wrapperScript(runtime: Pick<RuntimeConfig, "path" | "runtimeArgs">): string {
  const words = [runtime.path, ...runtime.runtimeArgs];
  if (words.some((w) => w.includes("\0"))) {
    throw new InvalidArgumentError("a runtime path or argument cannot contain a NUL byte");
  }
  return `#!/bin/sh\nexec ${words.map(shellQuote).join(" ")} "$@"\n`;
}

/** The SHA-256 of a script, as 64 lowercase hex digits. */
export function wrapperSha(script: string): string {
  return createHash("sha256").update(script, "utf8").digest("hex");
}

/** `runtime-<sha256 hex of script>`: equal content, equal name; different content, different name. */
export function wrapperFileName(script: string): string {
  return `${WRAPPER_PREFIX}${wrapperSha(script)}`;
}

/** True for a name wrapperFileName can produce. */
export function isWrapperFileName(name: string): boolean {
  return WRAPPER_NAME.test(name);
}

/**
 * What a container records at start and uses for every later operation on it
 * (domain's LockedInRuntime). `path` is what the shim runs: the binary itself, or the
 * wrapper when the runtime has arguments; then `wrapperSha` is set and `args` only
 * records what the wrapper passes (they must not be passed again).
 */
export type ResolvedRuntime = LockedInRuntime & { wrapperSha?: string };

/**
 * The runtime `name` (empty or undefined: the default runtime) of one snapshot.
 * `wrapperDir` is the agent's wrapper directory, fixed for the agent's lifetime (the
 * same as its WrapperStore's `dir`). An unknown name throws InvalidArgumentError
 * `unknown or invalid runtime name: <name>`, as Docker does.
 * Pure: the wrapper file is not written here (WrapperStore.ensure does that).
 */
export function resolveRuntime(snapshot: ConfigSnapshot, name: string | undefined, wrapperDir: string): ResolvedRuntime {
  const chosen = name === undefined || name === "" ? snapshot.config.defaultRuntime : name;
  const runtimes = snapshot.config.runtimes;
  const runtime = Object.hasOwn(runtimes, chosen) ? runtimes[chosen] : undefined;
  if (runtime === undefined) throw new InvalidArgumentError(`unknown or invalid runtime name: ${chosen}`);
  if (runtime.runtimeArgs.length === 0) return { name: chosen, path: runtime.path, args: [] };
  const script = wrapperScript(runtime);
  const sha = wrapperSha(script);
  return {
    name: chosen,
    path: posixPath.join(wrapperDir, `${WRAPPER_PREFIX}${sha}`),
    args: [...runtime.runtimeArgs],
    wrapperSha: sha,
  };
}

/** The file names of the wrappers a config needs (one per runtime with arguments), sorted. */
export function wrapperFileNamesOf(snapshot: ConfigSnapshot): string[] {
  const names = new Set<string>();
  for (const runtime of Object.values(snapshot.config.runtimes)) {
    if (runtime.runtimeArgs.length > 0) names.add(wrapperFileName(wrapperScript(runtime)));
  }
  return [...names].sort();
}

export type StaleWrapperInput = {
  /** File names found in the wrapper directory. */
  present: readonly string[];
  /** Wrappers recorded by live containers' locked-in runtimes, as paths or file names. */
  inUse: ReadonlySet<string>;
  /** Wrappers of the config in force, as paths or file names (see wrapperFileNamesOf). */
  current: readonly string[];
};

export type StaleWrapperPlan = {
  /** Wrappers (and leftover temporary files) that nothing uses: safe to delete. */
  remove: string[];
  /** Wrappers a live container or the current config uses. */
  keep: string[];
  /** Files that are not Shoal wrappers; never touched. */
  unknown: string[];
};

/**
 * Which files in the wrapper directory to delete. Pure. A wrapper is removed only when
 * no live container uses it and the current config does not name it; files that are not
 * Shoal's are left alone. Only the agent's start may act on the plan, before it starts
 * or adopts containers: a wrapper is never deleted while the agent runs.
 */
export function planStaleWrapperRemoval(input: StaleWrapperInput): StaleWrapperPlan {
  const needed = new Set([...input.inUse, ...input.current].map((p) => posixPath.basename(p)));
  const plan: StaleWrapperPlan = { remove: [], keep: [], unknown: [] };
  for (const name of new Set(input.present)) {
    if (TEMP_NAME.test(name)) plan.remove.push(name);
    else if (!WRAPPER_NAME.test(name)) plan.unknown.push(name);
    else if (needed.has(name)) plan.keep.push(name);
    else plan.remove.push(name);
  }
  return plan;
}

/** A temporary file name for writing the wrapper `finalName` (matches what the planner cleans up). */
export function wrapperTempFileName(finalName: string, unique: string): string {
  return `.${finalName}.tmp-${unique}`;
}
