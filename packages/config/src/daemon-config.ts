/**
 * The daemon config: its schema (daemon.json keys, kebab-case as in Docker), parsing,
 * `shoal config set` assignments, and the canonical daemon.json form.
 *
 * Everything here is pure. A config is either valid as a whole or refused as a whole:
 * every function returns a complete new DaemonConfig or throws InvalidArgumentError
 * naming every bad key; nothing is ever partially applied.
 */
import posixPath from "node:path/posix";
import { z } from "zod";
import { DEFAULT_SHM_SIZE_BYTES, InvalidArgumentError, parseDefaultIpcMode, parseShmSize } from "@shoal/domain";
import type { DefaultIpcMode } from "@shoal/domain";
import { formatDurationMs, formatShmSize, parseDurationMs } from "./config-values";

/** A runtime as configured: the binary and the arguments put before the shim's own. */
export type RuntimeConfig = Readonly<{
  /** Absolute path of the binary, except the built-in `runc`, which is looked up on PATH. */
  path: string;
  runtimeArgs: readonly string[];
}>;

/**
 * A valid daemon config with every default filled in. Plain JSON data (no Dates, no
 * classes), so it can travel in events as is. `runtimes` always contains `runc`.
 */
export type DaemonConfig = Readonly<{
  defaultIpcMode: DefaultIpcMode;
  defaultShmSizeBytes: number;
  runtimes: Readonly<Record<string, RuntimeConfig>>;
  defaultRuntime: string;
  experimental: boolean;
  /** Directories under which `--rootfs DIR` may point; empty means no restriction. */
  allowedRootfsRoots: readonly string[];
  heartbeatTimeoutMs: number;
  stateRoot: string;
  /**
   * Registries (`host[:port]`) pulled from over plain HTTP, as Docker's daemon.json key;
   * loopback registries always are.
   */
  insecureRegistries: readonly string[];
}>;

/** The canonical daemon.json object (what `shoal config show` prints and `reload` reads). */
export type DaemonConfigJson = {
  "allowed-rootfs-roots": string[];
  "default-ipc-mode": DefaultIpcMode;
  "default-runtime": string;
  "default-shm-size": string | number;
  experimental: boolean;
  "heartbeat-timeout": string;
  "insecure-registries": string[];
  runtimes: Record<string, { path: string; runtimeArgs?: string[] }>;
  "state-root": string;
};

/** The built-in runtime: always present, may not be redefined (as in Docker). */
export const BUILTIN_RUNTIME_NAME = "runc";
const BUILTIN_RUNTIME: RuntimeConfig = { path: "runc", runtimeArgs: [] };

const DEFAULT_HEARTBEAT_TIMEOUT_MS = 15_000;
const DEFAULT_STATE_ROOT = "/var/lib/shoal";
const RUNTIME_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The config in force when nothing was ever configured (config version 0). */
export function defaultDaemonConfig(): DaemonConfig {
  return {
    defaultIpcMode: "private",
    defaultShmSizeBytes: DEFAULT_SHM_SIZE_BYTES,
    runtimes: { [BUILTIN_RUNTIME_NAME]: BUILTIN_RUNTIME },
    defaultRuntime: BUILTIN_RUNTIME_NAME,
    experimental: false,
    allowedRootfsRoots: [],
    heartbeatTimeoutMs: DEFAULT_HEARTBEAT_TIMEOUT_MS,
    stateRoot: DEFAULT_STATE_ROOT,
    insecureRegistries: [],
  };
}

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/** A zod transform running `parse`; what it throws becomes an issue at the current path. */
const catching =
  <I, T>(parse: (v: I) => T, hint = "") =>
  (v: I, ctx: z.RefinementCtx): T => {
    try {
      return parse(v);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: `${(err as Error).message}${hint}` });
      return z.NEVER;
    }
  };

/** A value given as text or as a number, read by `parse`. */
const via = <T>(parse: (v: string | number) => T) =>
  z
    .union([z.string(), z.number()], { error: (iss) => `must be a string or a number, got ${show(iss.input)}` })
    .transform(catching(parse));

const absolutePath = z
  .string({ error: (iss) => `must be an absolute path (a string), got ${show(iss.input)}` })
  .refine((p) => p.startsWith("/"), { error: (iss) => `must be an absolute path, got ${show(iss.input)}` })
  .refine((p) => !p.includes("\0"), { error: "must not contain a NUL byte" })
  .transform((p) => {
    const normal = posixPath.normalize(p);
    return normal.length > 1 && normal.endsWith("/") ? normal.slice(0, -1) : normal;
  });

const runtimeSchema = z.strictObject(
  {
    path: absolutePath,
    runtimeArgs: z
      .array(
        z
          .string({ error: (iss) => `must be a string, got ${show(iss.input)}` })
          .refine((a) => !a.includes("\0"), { error: "must not contain a NUL byte" }),
        { error: (iss) => `must be an array of strings, got ${show(iss.input)}` },
      )
      .default([]),
  },
  { error: (iss) => (iss.code === "invalid_type" ? `must be an object {"path": ..., "runtimeArgs": [...]}, got ${show(iss.input)}` : undefined) },
);

const schema = z.strictObject({
  "default-ipc-mode": z
    .string({ error: (iss) => `must be "private" or "shareable", got ${show(iss.input)}` })
    .transform(catching((s) => parseDefaultIpcMode(s), ' (want "private" or "shareable")'))
    .default("private"),
  // 0 and "" mean "not set" to parseShmSize: the built-in default then.
  "default-shm-size": via((v) => parseShmSize(v) ?? DEFAULT_SHM_SIZE_BYTES).default(DEFAULT_SHM_SIZE_BYTES),
  runtimes: z
    .record(z.string(), runtimeSchema, { error: (iss) => `must be an object of name → runtime, got ${show(iss.input)}` })
    .default({}),
  "default-runtime": z
    .string({ error: (iss) => `must be a runtime name (a string), got ${show(iss.input)}` })
    .default(BUILTIN_RUNTIME_NAME),
  experimental: z.boolean({ error: (iss) => `must be true or false, got ${show(iss.input)}` }).default(false),
  "allowed-rootfs-roots": z
    .array(absolutePath, { error: (iss) => `must be an array of absolute paths, got ${show(iss.input)}` })
    .default([]),
  "heartbeat-timeout": via(parseDurationMs).default(DEFAULT_HEARTBEAT_TIMEOUT_MS),
  "insecure-registries": z
    .array(z.string().regex(/^[A-Za-z0-9.-]+(:[0-9]{1,5})?$/, "must be host or host:port"), {
      error: (iss) => `must be an array of registry hosts (host or host:port), got ${show(iss.input)}`,
    })
    .default([]),
  "state-root": absolutePath
    .refine((p) => p !== "/", { error: "must not be / (Shoal creates and removes directories under it)" })
    .default(DEFAULT_STATE_ROOT),
});

/** The keys daemon.json may contain, in canonical (alphabetical) order. */
export const DAEMON_CONFIG_KEYS = [
  "allowed-rootfs-roots",
  "default-ipc-mode",
  "default-runtime",
  "default-shm-size",
  "experimental",
  "heartbeat-timeout",
  "insecure-registries",
  "runtimes",
  "state-root",
] as const;
export type DaemonConfigKey = (typeof DAEMON_CONFIG_KEYS)[number];

type Issue = { path: string; message: string };

function issuePath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
}

function zodIssues(error: z.ZodError): Issue[] {
  const out: Issue[] = [];
  for (const iss of error.issues) {
    if (iss.code === "unrecognized_keys") {
      for (const key of iss.keys) out.push({ path: issuePath([...iss.path, key]), message: "unknown key" });
    } else {
      out.push({ path: issuePath(iss.path), message: iss.message });
    }
  }
  return out;
}

/** Checks that need more than one key or the names of runtimes; run on the raw input. */
function crossKeyIssues(raw: Record<string, unknown>): Issue[] {
  const out: Issue[] = [];
  const runtimes = raw["runtimes"];
  const names = new Set([BUILTIN_RUNTIME_NAME]);
  if (typeof runtimes === "object" && runtimes !== null && !Array.isArray(runtimes)) {
    for (const name of Object.keys(runtimes)) {
      if (name === BUILTIN_RUNTIME_NAME) {
        out.push({ path: `runtimes.${name}`, message: `"${name}" is built in and cannot be redefined` });
      } else if (!RUNTIME_NAME.test(name)) {
        out.push({
          path: `runtimes.${name}`,
          message: "a runtime name is 1-64 letters, digits, '.', '_' or '-' and starts with a letter or digit",
        });
      }
      names.add(name);
    }
  }
  const defaultRuntime = raw["default-runtime"];
  if (typeof defaultRuntime === "string" && !names.has(defaultRuntime)) {
    out.push({
      path: "default-runtime",
      message: `${show(defaultRuntime)} is not a configured runtime (known: ${[...names].sort().join(", ")})`,
    });
  }
  return out;
}

function refuse(issues: Issue[]): never {
  const lines = issues
    .map((i) => (i.path === "" ? i.message : `${i.path}: ${i.message}`))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  throw new InvalidArgumentError(`invalid daemon config: ${[...new Set(lines)].join("; ")}`);
}

/**
 * Validates a parsed daemon.json value and fills in defaults. Missing keys take their
 * defaults; unknown keys are refused. Throws InvalidArgumentError
 * `invalid daemon config: <key>: <reason>; <key>: <reason>…` listing every problem.
 * The returned config is a fresh object that shares nothing with `json`.
 */
export function parseDaemonConfig(json: unknown): DaemonConfig {
  const result = validate(json);
  if ("issues" in result) refuse(result.issues);
  return result.config;
}

function validate(json: unknown): { config: DaemonConfig } | { issues: Issue[] } {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { issues: [{ path: "", message: `must be a JSON object, got ${show(json)}` }] };
  }
  const raw = json as Record<string, unknown>;
  const result = schema.safeParse(raw);
  const issues = [...(result.success ? [] : zodIssues(result.error)), ...crossKeyIssues(raw)];
  if (!result.success || issues.length > 0) return { issues };
  const v = result.data;
  const runtimes: Record<string, RuntimeConfig> = {};
  for (const name of [...Object.keys(v.runtimes), BUILTIN_RUNTIME_NAME].sort()) {
    const rt = name === BUILTIN_RUNTIME_NAME ? BUILTIN_RUNTIME : v.runtimes[name]!;
    runtimes[name] = { path: rt.path, runtimeArgs: [...rt.runtimeArgs] };
  }
  const config: DaemonConfig = {
    defaultIpcMode: v["default-ipc-mode"],
    defaultShmSizeBytes: v["default-shm-size"],
    runtimes,
    defaultRuntime: v["default-runtime"],
    experimental: v.experimental,
    allowedRootfsRoots: [...new Set(v["allowed-rootfs-roots"])],
    heartbeatTimeoutMs: v["heartbeat-timeout"],
    stateRoot: v["state-root"],
    insecureRegistries: [...new Set(v["insecure-registries"])],
  };
  return { config };
}

/**
 * Parses daemon.json text (as read by `shoal config reload --file`). Text that is not
 * JSON throws InvalidArgumentError `invalid daemon config: not valid JSON: <reason>`;
 * otherwise as parseDaemonConfig.
 */
export function parseDaemonConfigText(text: string): DaemonConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`invalid daemon config: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseDaemonConfig(json);
}

/**
 * The canonical daemon.json object: every key (defaults included) in alphabetical
 * order, runtimes sorted by name without the built-in `runc`, `runtimeArgs` only when
 * not empty, sizes and durations in their shortest exact text (`64m`, `15s`).
 * `parseDaemonConfig(formatDaemonConfig(c))` equals `c`, and two configs are equal
 * exactly when their canonical JSON texts are.
 */
export function formatDaemonConfig(cfg: DaemonConfig): DaemonConfigJson {
  const runtimes: DaemonConfigJson["runtimes"] = {};
  for (const name of Object.keys(cfg.runtimes).sort()) {
    if (name === BUILTIN_RUNTIME_NAME) continue;
    const rt = cfg.runtimes[name]!;
    runtimes[name] = rt.runtimeArgs.length > 0 ? { path: rt.path, runtimeArgs: [...rt.runtimeArgs] } : { path: rt.path };
  }
  return {
    "allowed-rootfs-roots": [...cfg.allowedRootfsRoots],
    "default-ipc-mode": cfg.defaultIpcMode,
    "default-runtime": cfg.defaultRuntime,
    "default-shm-size": formatShmSize(cfg.defaultShmSizeBytes),
    experimental: cfg.experimental,
    "heartbeat-timeout": formatDurationMs(cfg.heartbeatTimeoutMs),
    "insecure-registries": [...cfg.insecureRegistries],
    runtimes,
    "state-root": cfg.stateRoot,
  };
}

/** True when both configs mean the same thing (same canonical daemon.json). */
export function daemonConfigEquals(a: DaemonConfig, b: DaemonConfig): boolean {
  return JSON.stringify(formatDaemonConfig(a)) === JSON.stringify(formatDaemonConfig(b));
}

/**
 * Whether `--rootfs DIR` may use `dir` under `allowed-rootfs-roots`: always when the list
 * is empty, else when `dir` is one of the roots or lies below one (isUnderAllowedRoots).
 * A relative `dir` is never allowed.
 */
export function isRootfsAllowed(cfg: DaemonConfig, dir: string): boolean {
  return isUnderAllowedRoots(cfg.allowedRootfsRoots, dir);
}

/**
 * True when `dir` (absolute) is one of `roots` or below one, compared after normalizing
 * (`..` cannot climb out); no roots allows every absolute path. The api checks the path as
 * given; the host that runs the container checks it again after resolving symlinks there.
 */
export function isUnderAllowedRoots(roots: readonly string[], dir: string): boolean {
  if (!dir.startsWith("/")) return false;
  if (roots.length === 0) return true;
  const normal = posixPath.normalize(dir);
  return roots.some((root) => normal === root || normal.startsWith(root === "/" ? "/" : `${root}/`));
}

const RUNTIME_KEY_PREFIX = "runtimes.";

/**
 * Applies `shoal config set KEY=VALUE…` to `current` and validates the result as a
 * whole. Assignments apply in order (a later one for the same key wins). Values:
 * - `experimental`: `true` or `false`;
 * - `default-shm-size`: `64m`-style or bytes; `heartbeat-timeout`: `15s`-style or ms;
 * - `allowed-rootfs-roots`, `insecure-registries`: a JSON array, or comma-separated values;
 * - `runtimes`: a JSON object replacing all runtimes; `runtimes.NAME`: a JSON object
 *   `{"path": …, "runtimeArgs": […]}` adding or replacing one runtime;
 * - other keys: the text as is.
 * An empty value (`KEY=`) resets the key to its default; `runtimes.NAME=` removes NAME.
 * Throws InvalidArgumentError listing every bad assignment or key; `current` is never
 * changed. The result may equal `current` (check with daemonConfigEquals).
 */
export function applyConfigSet(current: DaemonConfig, assignments: readonly string[]): DaemonConfig {
  const doc: Record<string, unknown> = formatDaemonConfig(current);
  // No prototype: `runtimes.__proto__=…` must become a key the schema refuses, not a prototype.
  const runtimes: Record<string, unknown> = Object.assign(Object.create(null), doc["runtimes"]);
  doc["runtimes"] = runtimes;
  const issues: Issue[] = [];
  for (const assignment of assignments) {
    const eq = assignment.indexOf("=");
    if (eq <= 0) {
      issues.push({ path: "", message: `${show(assignment)} is not KEY=VALUE` });
      continue;
    }
    const key = assignment.slice(0, eq);
    const value = assignment.slice(eq + 1);
    try {
      if (key.startsWith(RUNTIME_KEY_PREFIX)) {
        const name = key.slice(RUNTIME_KEY_PREFIX.length);
        if (name === BUILTIN_RUNTIME_NAME) throw new Error(`"${name}" is built in and cannot be changed or removed`);
        if (value === "") delete runtimes[name];
        else runtimes[name] = parseJsonValue(value);
      } else if (!(DAEMON_CONFIG_KEYS as readonly string[]).includes(key)) {
        issues.push({ path: key, message: "unknown key" });
      } else if (value === "") {
        if (key === "runtimes") for (const name of Object.keys(runtimes)) delete runtimes[name];
        else delete doc[key];
      } else if (key === "runtimes") {
        const all = parseJsonValue(value);
        for (const name of Object.keys(runtimes)) delete runtimes[name];
        if (typeof all === "object" && all !== null && !Array.isArray(all)) Object.assign(runtimes, all);
        else doc["runtimes"] = all; // let the schema explain what is wrong with it
      } else {
        doc[key] = parseSetValue(key as Exclude<DaemonConfigKey, "runtimes">, value);
      }
    } catch (err) {
      issues.push({ path: key, message: (err as Error).message });
    }
  }
  // Validate what could be assigned too, so one refusal names every bad key.
  const result = validate(doc);
  if ("issues" in result) refuse([...issues, ...result.issues]);
  if (issues.length > 0) refuse(issues);
  return result.config;
}

function parseJsonValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw new Error(`value is not valid JSON: ${show(value)}`);
  }
}

function parseSetValue(key: Exclude<DaemonConfigKey, "runtimes">, value: string): unknown {
  switch (key) {
    case "experimental":
      if (value === "true") return true;
      if (value === "false") return false;
      throw new Error(`must be true or false, got ${show(value)}`);
    case "default-shm-size":
    case "heartbeat-timeout":
      return /^\d+$/.test(value) ? Number(value) : value;
    case "allowed-rootfs-roots":
    case "insecure-registries":
      if (value.trimStart().startsWith("[")) return parseJsonValue(value);
      return value
        .split(",")
        .map((p) => p.trim())
        .filter((p) => p !== "");
    case "default-ipc-mode":
    case "default-runtime":
    case "state-root":
      return value;
    default:
      return assertNever(key);
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected key: ${String(x)}`);
}
