import type { BindMount, CreateContainerRequest, EventFilter } from "./api-types";
import { compileTemplate, isTemplate, TemplateError } from "./format-template";

/**
 * Turns `shoal …` arguments into one command, without I/O. Every refusal is a
 * UsageError, which the CLI reports with the command's usage and the UsageError's exit
 * code: 125 for a bad flag or flag value, 1 for a wrong number of arguments or an
 * unknown command (docker's codes for the same).
 *
 * Flag syntax follows docker's (pflag): `--flag value`, `--flag=value`, `-f value`,
 * `-fvalue`, grouped short booleans (`-dq`), repeated list flags (`-e A=1 -e B=2`),
 * and `--` to end flags. For `run`, `create` and `exec`, flags stop at the first
 * positional: everything after the image (or after the first positional with
 * `--rootfs`) is the container's command, even when it looks like a flag.
 */

export const DEFAULT_ADDR = "127.0.0.1:7420";

export type OutputFormat = "table" | "json";

export type CliCommand =
  | { kind: "version" }
  | { kind: "help"; topic: string | undefined }
  | { kind: "run"; detach: boolean; request: CreateContainerRequest }
  | { kind: "create"; request: CreateContainerRequest }
  /** `checkpoint`: restore from this checkpoint (`docker start --checkpoint`; "" for none). */
  | { kind: "start"; attach: boolean; checkpoint: string; host: string; containers: string[] }
  | { kind: "stop"; timeoutSeconds: number | undefined; containers: string[] }
  | { kind: "restart"; timeoutSeconds: number | undefined; containers: string[] }
  | { kind: "rename"; container: string; newName: string }
  /** `psArgs`: ps options as one string, as docker sends them ("" is ps's `-ef`). */
  | { kind: "top"; container: string; psArgs: string }
  | { kind: "kill"; signal: string; containers: string[] }
  | { kind: "rm"; force: boolean; containers: string[] }
  | { kind: "pause"; containers: string[] }
  | { kind: "unpause"; containers: string[] }
  | { kind: "exec"; container: string; args: string[]; env: string[]; cwd: string }
  | { kind: "logs"; container: string; tail: number; follow: boolean }
  | { kind: "inspect"; containers: string[]; template: string | undefined }
  | {
      kind: "ps";
      all: boolean;
      quiet: boolean;
      /** Full ids and commands. */
      noTrunc: boolean;
      filters: Record<string, string>;
      format: OutputFormat;
      /** A Go-style template (`--format '{{.ID}} {{.Names}}'`), printed once per container. */
      template: string | undefined;
    }
  | { kind: "wait"; containers: string[] }
  | {
      kind: "events";
      since: Date | undefined;
      until: Date | undefined;
      filters: EventFilter[];
      cursor: string | undefined;
      format: OutputFormat;
    }
  | { kind: "hosts"; format: OutputFormat }
  | { kind: "host-drain"; host: string; checkpoint: boolean }
  | { kind: "host-activate"; host: string }
  | { kind: "config-show"; format: OutputFormat }
  | { kind: "config-set"; assignments: string[] }
  | { kind: "config-reload"; file: string }
  | { kind: "checkpoint-create"; container: string; name: string; leaveRunning: boolean; group: boolean }
  | { kind: "checkpoint-ls"; container: string; format: OutputFormat }
  | { kind: "checkpoint-rm"; container: string; name: string }
  | { kind: "checkpoint-export"; container: string; name: string; output: string }
  | { kind: "checkpoint-import"; file: string }
  | { kind: "pull"; reference: string; host: string; quiet: boolean }
  | {
      kind: "images";
      host: string;
      quiet: boolean;
      noTrunc: boolean;
      digests: boolean;
      filters: Record<string, string>;
      format: OutputFormat;
      /** A Go-style template, printed once per image. */
      template: string | undefined;
      /** `images NAME`: Docker's shorthand for `--filter reference=NAME`. */
    }
  | { kind: "rmi"; force: boolean; images: string[] }
  | { kind: "image-inspect"; images: string[]; template: string | undefined }
  | { kind: "tag"; source: string; target: string }
  /** `input`: a file, or "" for stdin. */
  | { kind: "load"; input: string; host: string; quiet: boolean }
  /** `output`: a file, or "" for stdout. */
  | { kind: "save"; output: string; images: string[] }
  | { kind: "login"; server: string; username: string; password: string | undefined; passwordStdin: boolean }
  | { kind: "logout"; server: string };

export interface ParsedCommandLine {
  /** gRPC target of the api: `--addr`, else `SHOAL_ADDR`, else 127.0.0.1:7420. */
  addr: string;
  command: CliCommand;
}

export interface ParseContext {
  /** The environment, for `SHOAL_ADDR` and for `-e NAME` without a value. */
  env: Readonly<Record<string, string | undefined>>;
  /** "Now", for relative `events --since 10m`. */
  now: Date;
}

/**
 * A command line Shoal refuses before calling the api; `command` names the usage to show.
 * `exitCode` is docker's for the same mistake: 125 (a flag), or 1 (the arguments, the command).
 */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command: string | undefined,
    readonly exitCode: 1 | 125 = 125,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

/** A wrong number of arguments or an unknown command: docker exits 1 for these. */
function argumentError(message: string, command: string | undefined): UsageError {
  return new UsageError(message, command, 1);
}

type FlagKind = "bool" | "string" | "list";
interface FlagSpec {
  name: string;
  short?: string;
  aliases?: string[];
  kind: FlagKind;
}

interface ParsedFlags {
  bools: Set<string>;
  strings: Map<string, string>;
  lists: Map<string, string[]>;
  positionals: string[];
}

const NO_TTY =
  "interactive mode (-i, -t) is not supported: Shoal runs the command to completion and prints its output (run -d and logs for long-running ones)";

const ADDR_FLAG: FlagSpec = { name: "addr", kind: "string" };
const HELP_FLAG: FlagSpec = { name: "help", short: "h", kind: "bool" };
const FORMAT_FLAG: FlagSpec = { name: "format", kind: "string" };

const CREATE_FLAGS: FlagSpec[] = [
  { name: "rm", kind: "bool" },
  { name: "name", kind: "string" },
  { name: "ipc", kind: "string" },
  { name: "shm-size", kind: "string" },
  { name: "runtime", kind: "string" },
  { name: "security-opt", kind: "list" },
  { name: "host", kind: "string" },
  { name: "read-only", kind: "bool" },
  { name: "privileged", kind: "bool" },
  { name: "env", short: "e", kind: "list" },
  { name: "workdir", short: "w", kind: "string" },
  { name: "volume", short: "v", kind: "list" },
  { name: "rootfs", kind: "string" },
  { name: "memory", short: "m", kind: "string" },
  { name: "cpus", kind: "string" },
  { name: "restart", kind: "string" },
  { name: "stop-on-disconnect", kind: "string" },
  { name: "entrypoint", kind: "string" },
  { name: "user", short: "u", kind: "string" },
];

/**
 * Parses flags from `args` per `specs`. With `interspersed` false, the first positional
 * ends flag parsing (docker's SetInterspersed(false)); `--` always does.
 */
function parseFlags(
  args: readonly string[],
  specs: readonly FlagSpec[],
  command: string | undefined,
  interspersed: boolean,
): ParsedFlags {
  const byLong = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const spec of [...specs, ADDR_FLAG, HELP_FLAG]) {
    byLong.set(spec.name, spec);
    for (const alias of spec.aliases ?? []) byLong.set(alias, spec);
    if (spec.short !== undefined) byShort.set(spec.short, spec);
  }
  const out: ParsedFlags = { bools: new Set(), strings: new Map(), lists: new Map(), positionals: [] };
  const set = (spec: FlagSpec, value: string | undefined, shown: string): void => {
    if (spec.kind === "bool") {
      if (value !== undefined && value !== "true" && value !== "false") {
        throw new UsageError(`invalid argument "${value}" for "${shown}" flag: expected true or false`, command);
      }
      if (value === "false") out.bools.delete(spec.name);
      else out.bools.add(spec.name);
      return;
    }
    if (value === undefined) throw new UsageError(`flag needs an argument: ${shown}`, command);
    if (spec.kind === "string") out.strings.set(spec.name, value);
    else out.lists.set(spec.name, [...(out.lists.get(spec.name) ?? []), value]);
  };

  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const spec = byLong.get(name);
      if (spec === undefined) {
        if (name === "interactive" || name === "tty") throw new UsageError(NO_TTY, command);
        throw new UsageError(`unknown flag: --${name}`, command);
      }
      let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
      if (value === undefined && spec.kind !== "bool") {
        value = args[i + 1];
        if (value !== undefined) i++;
      }
      set(spec, value, `--${name}`);
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j]!;
        const spec = byShort.get(letter);
        if (spec === undefined) {
          if ((letter === "i" || letter === "t") && (command === "run" || command === "exec" || command === "create")) {
            throw new UsageError(NO_TTY, command);
          }
          throw new UsageError(`unknown shorthand flag: '${letter}' in ${arg}`, command);
        }
        if (spec.kind === "bool") {
          set(spec, undefined, `-${letter}`);
          continue;
        }
        let value: string | undefined = arg.slice(j + 1);
        if (value.startsWith("=")) value = value.slice(1);
        if (value === "") {
          value = args[i + 1];
          if (value !== undefined) i++;
        }
        set(spec, value, `-${letter}`);
        break;
      }
      continue;
    }
    out.positionals.push(arg);
    if (!interspersed) {
      i++;
      break;
    }
  }
  out.positionals.push(...args.slice(i));
  return out;
}

function parseFormat(flags: ParsedFlags, command: string): OutputFormat {
  const value = flags.strings.get("format") ?? "table";
  if (value === "table" || value === "json") return value;
  throw new UsageError(`unsupported --format "${value}": use table, json or a template like '{{.ID}}'`, command);
}

function checkedTemplate(template: string, command: string): string {
  try {
    compileTemplate(template);
  } catch (err) {
    if (err instanceof TemplateError) throw new UsageError(err.message, command);
    throw err;
  }
  return template;
}

function parseNonNegativeInt(value: string, flag: string, command: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 2 ** 31 - 1) {
    throw new UsageError(`invalid argument "${value}" for "${flag}" flag: expected a whole number of at least 0`, command);
  }
  return Number(value);
}

function requireArgs(flags: ParsedFlags, min: number, command: string): string[] {
  if (flags.positionals.length < min) {
    throw argumentError(`"shoal ${command}" requires at least ${min} argument${min === 1 ? "" : "s"}.`, command);
  }
  return flags.positionals;
}

function exactlyOne(flags: ParsedFlags, command: string): string {
  if (flags.positionals.length !== 1) {
    throw argumentError(`"shoal ${command}" requires exactly 1 argument.`, command);
  }
  return flags.positionals[0]!;
}

/**
 * `-v SRC:DST[:OPTIONS]`: SRC and DST absolute paths, OPTIONS a comma list of `ro`, `rw`
 * or `rro` (read-only, recursively). Shoal has no named volumes, so SRC must be a path.
 */
export function parseVolumeSpec(spec: string): BindMount {
  const parts = spec.split(":");
  const invalid = (why: string): UsageError => new UsageError(`invalid volume specification: '${spec}': ${why}`, undefined);
  if (parts.length < 2 || parts.length > 3) throw invalid("expected SRC:DST or SRC:DST:OPTIONS");
  const [source, target, options] = parts as [string, string, string | undefined];
  if (!source.startsWith("/")) throw invalid("the source must be an absolute host path (Shoal has no named volumes)");
  if (!target.startsWith("/")) throw invalid("the destination must be an absolute path");
  const mount: BindMount = { source, target, readonly: false, readonly_mode: "" };
  if (options !== undefined) {
    const seen = new Set<string>();
    for (const option of options.split(",")) {
      if (seen.has(option)) throw invalid(`option "${option}" given twice`);
      seen.add(option);
      switch (option) {
        case "ro":
          mount.readonly = true;
          break;
        case "rw":
          break;
        case "rro":
          mount.readonly = true;
          mount.readonly_mode = "recursive";
          break;
        default:
          throw invalid(`unknown option "${option}" (known: ro, rw, rro)`);
      }
    }
    if (seen.has("rw") && mount.readonly) throw invalid("rw conflicts with ro");
  }
  return mount;
}

/** `-e NAME=VALUE` as given; `-e NAME` takes NAME from the environment and is dropped when unset (docker's rule). */
function parseEnv(values: readonly string[], env: ParseContext["env"], command: string): string[] {
  const out: string[] = [];
  for (const value of values) {
    const eq = value.indexOf("=");
    if (eq === 0) throw new UsageError(`invalid environment variable: ${value}`, command);
    if (eq > 0) {
      out.push(value);
      continue;
    }
    const fromEnv = env[value];
    if (fromEnv !== undefined) out.push(`${value}=${fromEnv}`);
  }
  return out;
}

function parseCreate(args: readonly string[], command: "run" | "create", ctx: ParseContext): { flags: ParsedFlags; request: CreateContainerRequest } {
  const specs = command === "run" ? [...CREATE_FLAGS, { name: "detach", short: "d", kind: "bool" as const }] : CREATE_FLAGS;
  const flags = parseFlags(args, specs, command, false);
  if (flags.bools.has("help")) return { flags, request: emptyCreate() };
  const rootfs = flags.strings.get("rootfs") ?? "";
  let image = "";
  let containerArgs = flags.positionals;
  if (rootfs === "") {
    if (containerArgs.length === 0) {
      throw argumentError(`"shoal ${command}" requires an IMAGE or --rootfs DIR.`, command);
    }
    image = containerArgs[0]!;
    containerArgs = containerArgs.slice(1);
  } else if (!rootfs.startsWith("/")) {
    throw new UsageError(`--rootfs must be an absolute directory, got "${rootfs}"`, command);
  }
  let mounts: BindMount[];
  try {
    mounts = (flags.lists.get("volume") ?? []).map(parseVolumeSpec);
  } catch (err) {
    throw err instanceof UsageError ? new UsageError(err.message, command) : err;
  }
  const request: CreateContainerRequest = {
    name: flags.strings.get("name") ?? "",
    rootfs,
    image,
    args: containerArgs,
    env: parseEnv(flags.lists.get("env") ?? [], ctx.env, command),
    cwd: flags.strings.get("workdir") ?? "",
    host: flags.strings.get("host") ?? "",
    // Docker's CLI: `--entrypoint X` is [X]; `--entrypoint ""` clears the image's.
    ...(flags.strings.has("entrypoint")
      ? { entrypoint: flags.strings.get("entrypoint") === "" ? [] : [flags.strings.get("entrypoint")!], entrypoint_set: true }
      : {}),
    ...(flags.strings.has("user") ? { user: flags.strings.get("user")! } : {}),
    host_config: {
      ipc_mode: flags.strings.get("ipc") ?? "",
      shm_size: flags.strings.get("shm-size") ?? "",
      auto_remove: flags.bools.has("rm"),
      runtime: flags.strings.get("runtime") ?? "",
      security_opt: flags.lists.get("security-opt") ?? [],
      readonly_rootfs: flags.bools.has("read-only"),
      mounts,
      privileged: flags.bools.has("privileged"),
      memory: flags.strings.get("memory") ?? "",
      cpus: flags.strings.get("cpus") ?? "",
      restart_policy: flags.strings.get("restart") ?? "",
      stop_on_disconnect: flags.strings.get("stop-on-disconnect") ?? "",
    },
  };
  if (request.cwd !== "" && !request.cwd.startsWith("/")) {
    throw new UsageError(`the working directory '${request.cwd}' is invalid, it needs to be an absolute path`, command);
  }
  return { flags, request };
}

function emptyCreate(): CreateContainerRequest {
  return {
    name: "",
    rootfs: "",
    image: "",
    args: [],
    env: [],
    cwd: "",
    host: "",
    host_config: {
      ipc_mode: "",
      shm_size: "",
      auto_remove: false,
      runtime: "",
      security_opt: [],
      readonly_rootfs: false,
      mounts: [],
      privileged: false,
      memory: "",
      cpus: "",
      restart_policy: "",
      stop_on_disconnect: "",
    },
  };
}

/** `--filter k=v` pairs, refused when a pair has no `=` or an empty key. */
function parseFilterPairs(values: readonly string[], command: string): Array<[string, string]> {
  return values.map((value) => {
    const eq = value.indexOf("=");
    if (eq <= 0) throw new UsageError(`bad format of filter (expected name=value): ${value}`, command);
    return [value.slice(0, eq), value.slice(eq + 1)];
  });
}

const DURATION_UNITS_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A time for `events --since/--until`, as docker accepts it: RFC 3339 / ISO 8601
 * (`2026-11-23T10:00:00Z`, `2026-11-23`), Unix seconds (`1763900000`, `1763900000.5`),
 * or a Go duration before now (`10m`, `1h30m`, `90s`).
 */
export function parseTimeArg(value: string, now: Date, flag: string, command = "events"): Date {
  if (/^\d+(\.\d+)?$/.test(value)) return new Date(Number(value) * 1000);
  const duration = /^((\d+(\.\d+)?)(ns|us|µs|ms|s|m|h))+$/.test(value);
  if (duration) {
    let ms = 0;
    for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * DURATION_UNITS_MS[m[2]!]!;
    return new Date(now.getTime() - ms);
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const parsed = Date.parse(value);
    if (!Number.isNaN(parsed)) return new Date(parsed);
  }
  // docker parses the time after its flags, so this is its exit 1, not a flag's 125.
  throw argumentError(`invalid value "${value}" for ${flag}: expected an RFC 3339 time, Unix seconds or a duration like 10m`, command);
}

const NO_FLAGS: FlagSpec[] = [];
const SUBCOMMANDS = new Set([
  "run",
  "create",
  "start",
  "stop",
  "restart",
  "rename",
  "top",
  "kill",
  "rm",
  "pause",
  "unpause",
  "exec",
  "logs",
  "inspect",
  "ps",
  "wait",
  "events",
  "hosts",
  "host",
  "config",
  "checkpoint",
  "pull",
  "load",
  "save",
  "images",
  "image",
  "rmi",
  "tag",
  "login",
  "logout",
  "version",
  "help",
]);

/** Parses `argv` (without node and the script). Throws UsageError for anything Shoal refuses. */
export function parseCommandLine(argv: readonly string[], ctx: ParseContext): ParsedCommandLine {
  // Global flags come before the command.
  const global = parseFlags(argv, [{ name: "version", short: "v", kind: "bool" }], undefined, false);
  let addr = global.strings.get("addr") ?? ctx.env.SHOAL_ADDR ?? DEFAULT_ADDR;
  if (global.bools.has("version")) return { addr, command: { kind: "version" } };
  const [name, ...rest] = global.positionals;
  // `shoal` alone prints the help, as `docker` alone does.
  if (name === undefined) return { addr, command: { kind: "help", topic: undefined } };
  if (!SUBCOMMANDS.has(name)) throw argumentError(`'${name}' is not a shoal command.`, undefined);
  if (global.bools.has("help")) return { addr, command: { kind: "help", topic: name } };

  const withAddr = (flags: ParsedFlags, command: CliCommand): ParsedCommandLine => {
    addr = flags.strings.get("addr") ?? addr;
    if (flags.bools.has("help")) return { addr, command: { kind: "help", topic: helpTopicOf(command) } };
    return { addr: normalizeAddr(addr), command };
  };
  const simple = (specs: FlagSpec[], interspersed = true): ParsedFlags => parseFlags(rest, specs, name, interspersed);
  const earlyHelp = (flags: ParsedFlags): ParsedCommandLine | undefined =>
    flags.bools.has("help") ? { addr, command: { kind: "help", topic: name } } : undefined;

  switch (name) {
    case "version": {
      const flags = simple(NO_FLAGS);
      return withAddr(flags, { kind: "version" });
    }
    case "help":
      return { addr, command: { kind: "help", topic: rest[0] } };
    case "run":
    case "create": {
      const { flags, request } = parseCreate(rest, name, ctx);
      if (flags.bools.has("help")) return { addr, command: { kind: "help", topic: name } };
      const command: CliCommand =
        name === "run" ? { kind: "run", detach: flags.bools.has("detach"), request } : { kind: "create", request };
      return withAddr(flags, command);
    }
    case "start": {
      const flags = simple([
        { name: "attach", short: "a", kind: "bool" },
        { name: "checkpoint", kind: "string" },
        { name: "host", kind: "string" },
      ]);
      const help = earlyHelp(flags);
      if (help) return help;
      const containers = requireArgs(flags, 1, name);
      if (flags.bools.has("attach") && containers.length > 1) {
        throw new UsageError("you cannot start and attach multiple containers at once", name);
      }
      const checkpoint = flags.strings.get("checkpoint") ?? "";
      const host = flags.strings.get("host") ?? "";
      return withAddr(flags, { kind: "start", attach: flags.bools.has("attach"), checkpoint, host, containers });
    }
    case "stop":
    case "restart": {
      const flags = simple([{ name: "time", short: "t", aliases: ["timeout"], kind: "string" }]);
      const help = earlyHelp(flags);
      if (help) return help;
      const containers = requireArgs(flags, 1, name);
      const time = flags.strings.get("time");
      const timeoutSeconds = time === undefined ? undefined : parseNonNegativeInt(time, "-t, --time", name);
      return withAddr(flags, { kind: name, timeoutSeconds, containers });
    }
    case "rename": {
      const flags = simple(NO_FLAGS);
      const help = earlyHelp(flags);
      if (help) return help;
      if (flags.positionals.length !== 2) throw argumentError(`"shoal rename" requires exactly 2 arguments.`, name);
      const [container, newName] = flags.positionals as [string, string];
      // docker's own check, before any call.
      if (container.trim() === "" || newName.trim() === "") throw argumentError("Neither old nor new names may be empty", name);
      return withAddr(flags, { kind: "rename", container, newName });
    }
    case "top": {
      // Everything after the container is ps's options, flags included (docker's SetInterspersed(false)).
      const flags = simple(NO_FLAGS, false);
      const help = earlyHelp(flags);
      if (help) return help;
      const [container, ...psArgs] = requireArgs(flags, 1, name);
      return withAddr(flags, { kind: "top", container: container!, psArgs: psArgs.join(" ") });
    }
    case "kill": {
      const flags = simple([{ name: "signal", short: "s", kind: "string" }]);
      const help = earlyHelp(flags);
      if (help) return help;
      const signal = flags.strings.get("signal") ?? "";
      return withAddr(flags, { kind: "kill", signal, containers: requireArgs(flags, 1, name) });
    }
    case "rm": {
      const flags = simple([{ name: "force", short: "f", kind: "bool" }]);
      const help = earlyHelp(flags);
      if (help) return help;
      return withAddr(flags, { kind: "rm", force: flags.bools.has("force"), containers: requireArgs(flags, 1, name) });
    }
    case "pause":
    case "unpause":
    case "wait": {
      const flags = simple(NO_FLAGS);
      const help = earlyHelp(flags);
      if (help) return help;
      return withAddr(flags, { kind: name, containers: requireArgs(flags, 1, name) });
    }
    case "inspect": {
      const flags = simple([{ name: "format", short: "f", kind: "string" }]);
      const help = earlyHelp(flags);
      if (help) return help;
      const format = flags.strings.get("format");
      let template: string | undefined;
      if (format !== undefined && format !== "json") {
        if (!isTemplate(format)) throw new UsageError(`unsupported --format "${format}": use json or a template like '{{.State.Pid}}'`, name);
        template = checkedTemplate(format, name);
      }
      return withAddr(flags, { kind: "inspect", containers: requireArgs(flags, 1, name), template });
    }
    case "exec": {
      const flags = simple(
        [
          { name: "env", short: "e", kind: "list" },
          { name: "workdir", short: "w", kind: "string" },
        ],
        false,
      );
      const help = earlyHelp(flags);
      if (help) return help;
      const [container, ...args] = requireArgs(flags, 2, name);
      return withAddr(flags, {
        kind: "exec",
        container: container!,
        args,
        env: parseEnv(flags.lists.get("env") ?? [], ctx.env, name),
        cwd: flags.strings.get("workdir") ?? "",
      });
    }
    case "logs": {
      const flags = simple([
        { name: "tail", short: "n", kind: "string" },
        { name: "follow", short: "f", kind: "bool" },
      ]);
      const help = earlyHelp(flags);
      if (help) return help;
      const tailArg = flags.strings.get("tail") ?? "all";
      const tail = tailArg === "all" ? 0 : parseNonNegativeInt(tailArg, "-n, --tail", name);
      return withAddr(flags, { kind: "logs", container: exactlyOne(flags, name), tail, follow: flags.bools.has("follow") });
    }
    case "ps": {
      const flags = simple([
        { name: "all", short: "a", kind: "bool" },
        { name: "quiet", short: "q", kind: "bool" },
        { name: "no-trunc", kind: "bool" },
        { name: "filter", short: "f", kind: "list" },
        FORMAT_FLAG,
      ]);
      const help = earlyHelp(flags);
      if (help) return help;
      if (flags.positionals.length > 0) throw argumentError(`"shoal ps" accepts no arguments.`, name);
      const filters: Record<string, string> = {};
      for (const [key, value] of parseFilterPairs(flags.lists.get("filter") ?? [], name)) {
        if (key in filters) throw new UsageError(`filter "${key}" given twice: ps takes one value per key`, name);
        filters[key] = value;
      }
      const format = flags.strings.get("format");
      const template = format !== undefined && isTemplate(format) ? checkedTemplate(format, name) : undefined;
      return withAddr(flags, {
        kind: "ps",
        all: flags.bools.has("all"),
        quiet: flags.bools.has("quiet"),
        noTrunc: flags.bools.has("no-trunc"),
        filters,
        format: template === undefined ? parseFormat(flags, name) : "table",
        template,
      });
    }
    case "events": {
      const flags = simple([
        { name: "since", kind: "string" },
        { name: "until", kind: "string" },
        { name: "filter", short: "f", kind: "list" },
        { name: "cursor", kind: "string" },
        FORMAT_FLAG,
      ]);
      const help = earlyHelp(flags);
      if (help) return help;
      if (flags.positionals.length > 0) throw argumentError(`"shoal events" accepts no arguments.`, name);
      const grouped = new Map<string, string[]>();
      for (const [key, value] of parseFilterPairs(flags.lists.get("filter") ?? [], name)) {
        grouped.set(key, [...(grouped.get(key) ?? []), value]);
      }
      const since = flags.strings.get("since");
      const until = flags.strings.get("until");
      const cursor = flags.strings.get("cursor");
      if (cursor !== undefined && since !== undefined) {
        throw new UsageError("--cursor and --since are exclusive: a cursor already says where to resume", name);
      }
      return withAddr(flags, {
        kind: "events",
        since: since === undefined ? undefined : parseTimeArg(since, ctx.now, "--since"),
        until: until === undefined ? undefined : parseTimeArg(until, ctx.now, "--until"),
        filters: [...grouped].map(([key, values]) => ({ key, values })),
        cursor,
        format: parseFormat(flags, name),
      });
    }
    case "hosts": {
      const flags = simple([FORMAT_FLAG]);
      const help = earlyHelp(flags);
      if (help) return help;
      if (flags.positionals.length > 0) throw argumentError(`"shoal hosts" accepts no arguments.`, name);
      return withAddr(flags, { kind: "hosts", format: parseFormat(flags, name) });
    }
    case "host": {
      const [sub, ...subArgs] = rest;
      if (sub === undefined) throw new UsageError("a host subcommand is required: drain or activate.", "host");
      if (sub === "--help" || sub === "-h") return { addr, command: { kind: "help", topic: "host" } };
      if (sub !== "drain" && sub !== "activate") throw new UsageError(`'${sub}' is not a host subcommand.`, "host");
      const topic = `host ${sub}`;
      const flags = parseFlags(subArgs, sub === "drain" ? [{ name: "checkpoint", kind: "bool" }] : NO_FLAGS, topic, true);
      const a = normalizeAddr(flags.strings.get("addr") ?? addr);
      if (flags.bools.has("help")) return { addr: a, command: { kind: "help", topic } };
      requireArgs(flags, 1, topic);
      if (flags.positionals.length > 1) throw argumentError(`"shoal ${topic}" requires exactly 1 argument.`, topic);
      const host = flags.positionals[0]!;
      return { addr: a, command: sub === "drain" ? { kind: "host-drain", host, checkpoint: flags.bools.has("checkpoint") } : { kind: "host-activate", host } };
    }
    case "config":
      return parseConfig(rest, addr);
    case "checkpoint":
      return parseCheckpoint(rest, addr);
    case "image": {
      // `docker image ls|pull|rm|inspect|tag` are the top-level commands under another name.
      const [sub, ...subArgs] = rest;
      const subs: Record<string, string> = { ls: "images", list: "images", pull: "pull", rm: "rmi", remove: "rmi", inspect: "image-inspect", tag: "tag", load: "load", save: "save" };
      if (sub === undefined) throw new UsageError("an image subcommand is required: ls, pull, rm, inspect or tag.", "image");
      if (sub === "--help" || sub === "-h") return { addr, command: { kind: "help", topic: "image" } };
      const as = subs[sub];
      if (as === undefined) throw new UsageError(`'${sub}' is not an image subcommand.`, "image");
      return parseImageCommand(as, subArgs);
    }
    case "pull":
    case "load":
    case "save":
    case "images":
    case "rmi":
    case "tag":
    case "login":
    case "logout":
      return parseImageCommand(name, rest);
  }
  throw argumentError(`'${name}' is not a shoal command.`, undefined);

  /** `pull`, `images`, `rmi`, `image inspect`, `tag`, `login`, `logout`, shaped as Docker's. */
  function parseImageCommand(command: string, args: readonly string[]): ParsedCommandLine {
    const topic = command === "image-inspect" ? "image inspect" : command;
    const specs: Record<string, FlagSpec[]> = {
      pull: [{ name: "host", kind: "string" }, { name: "quiet", short: "q", kind: "bool" }],
      images: [
        { name: "host", kind: "string" },
        { name: "quiet", short: "q", kind: "bool" },
        { name: "no-trunc", kind: "bool" },
        { name: "digests", kind: "bool" },
        { name: "all", short: "a", kind: "bool" },
        { name: "filter", short: "f", kind: "list" },
        FORMAT_FLAG,
      ],
      rmi: [{ name: "force", short: "f", kind: "bool" }],
      "image-inspect": [FORMAT_FLAG],
      load: [{ name: "input", short: "i", kind: "string" }, { name: "host", kind: "string" }, { name: "quiet", short: "q", kind: "bool" }],
      save: [{ name: "output", short: "o", kind: "string" }],
      tag: [],
      login: [
        { name: "username", short: "u", kind: "string" },
        { name: "password", short: "p", kind: "string" },
        { name: "password-stdin", kind: "bool" },
      ],
      logout: [],
    };
    const flags = parseFlags(args, specs[command]!, topic, true);
    const a = normalizeAddr(flags.strings.get("addr") ?? addr);
    if (flags.bools.has("help")) return { addr: a, command: { kind: "help", topic } };
    const p = flags.positionals;
    const exactly = (n: number, what: string) => {
      if (p.length !== n) throw argumentError(`"shoal ${topic}" requires exactly ${n} argument${n === 1 ? "" : "s"} (${what}).`, topic);
    };
    switch (command) {
      case "pull":
        exactly(1, "NAME[:TAG|@DIGEST]");
        return { addr: a, command: { kind: "pull", reference: p[0]!, host: flags.strings.get("host") ?? "", quiet: flags.bools.has("quiet") } };
      case "images": {
        if (p.length > 1) throw argumentError(`"shoal images" accepts at most 1 argument.`, topic);
        const filters = Object.fromEntries(parseFilterPairs(flags.lists.get("filter") ?? [], topic));
        for (const key of Object.keys(filters)) {
          if (key !== "reference") throw new UsageError(`invalid filter '${key}' (supported: reference)`, topic);
        }
        if (p[0] !== undefined) filters.reference = p[0];
        const format = flags.strings.get("format");
        const template = format !== undefined && isTemplate(format) ? checkedTemplate(format, topic) : undefined;
        return {
          addr: a,
          command: {
            kind: "images",
            host: flags.strings.get("host") ?? "",
            quiet: flags.bools.has("quiet"),
            noTrunc: flags.bools.has("no-trunc"),
            digests: flags.bools.has("digests"),
            filters,
            format: template !== undefined ? "table" : parseFormat(flags, topic),
            template,
          },
        };
      }
      case "rmi":
        requireArgs(flags, 1, topic);
        return { addr: a, command: { kind: "rmi", force: flags.bools.has("force"), images: p } };
      case "image-inspect": {
        requireArgs(flags, 1, topic);
        const format = flags.strings.get("format");
        return { addr: a, command: { kind: "image-inspect", images: p, template: format === undefined ? undefined : checkedTemplate(format, topic) } };
      }
      case "load":
        if (p.length > 0) throw argumentError(`"shoal load" accepts no arguments.`, topic);
        return { addr: a, command: { kind: "load", input: flags.strings.get("input") ?? "", host: flags.strings.get("host") ?? "", quiet: flags.bools.has("quiet") } };
      case "save":
        requireArgs(flags, 1, topic);
        return { addr: a, command: { kind: "save", output: flags.strings.get("output") ?? "", images: p } };
      case "tag":
        exactly(2, "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]");
        return { addr: a, command: { kind: "tag", source: p[0]!, target: p[1]! } };
      case "login": {
        if (p.length > 1) throw argumentError(`"shoal login" requires at most 1 argument.`, topic);
        const password = flags.strings.get("password");
        if (password !== undefined && flags.bools.has("password-stdin")) throw new UsageError("--password and --password-stdin are mutually exclusive", topic);
        const username = flags.strings.get("username") ?? "";
        if (username === "") throw new UsageError("Username is required (-u USER): Shoal does not prompt", topic);
        if (password === undefined && !flags.bools.has("password-stdin")) throw new UsageError("a password is required (-p or --password-stdin): Shoal does not prompt", topic);
        return { addr: a, command: { kind: "login", server: p[0] ?? "docker.io", username, password, passwordStdin: flags.bools.has("password-stdin") } };
      }
      default:
        if (p.length > 1) throw argumentError(`"shoal logout" requires at most 1 argument.`, topic);
        return { addr: a, command: { kind: "logout", server: p[0] ?? "docker.io" } };
    }
  }

  function parseConfig(args: readonly string[], addrSoFar: string): ParsedCommandLine {
    const [sub, ...subArgs] = args;
    const topic = sub === undefined ? "config" : `config ${sub}`;
    const finish = (flags: ParsedFlags, command: CliCommand): ParsedCommandLine => {
      const a = normalizeAddr(flags.strings.get("addr") ?? addrSoFar);
      return flags.bools.has("help") ? { addr: a, command: { kind: "help", topic } } : { addr: a, command };
    };
    switch (sub) {
      case "show": {
        const flags = parseFlags(subArgs, [FORMAT_FLAG], topic, true);
        if (flags.positionals.length > 0 && !flags.bools.has("help")) {
          throw argumentError(`"shoal config show" accepts no arguments.`, topic);
        }
        return finish(flags, { kind: "config-show", format: flags.bools.has("help") ? "table" : parseFormat(flags, topic) });
      }
      case "set": {
        const flags = parseFlags(subArgs, NO_FLAGS, topic, true);
        if (!flags.bools.has("help")) {
          requireArgs(flags, 1, topic);
          for (const assignment of flags.positionals) {
            if (assignment.indexOf("=") <= 0) throw new UsageError(`expected KEY=VALUE, got "${assignment}"`, topic);
          }
        }
        return finish(flags, { kind: "config-set", assignments: flags.positionals });
      }
      case "reload": {
        const flags = parseFlags(subArgs, [{ name: "file", short: "f", kind: "string" }], topic, true);
        const file = flags.strings.get("file");
        if (!flags.bools.has("help")) {
          if (file === undefined || file === "") throw new UsageError(`"shoal config reload" requires --file daemon.json`, topic);
          if (flags.positionals.length > 0) throw argumentError(`"shoal config reload" accepts no arguments.`, topic);
        }
        return finish(flags, { kind: "config-reload", file: file ?? "" });
      }
      default:
        if (sub === "--help" || sub === "-h") return { addr: addrSoFar, command: { kind: "help", topic: "config" } };
        throw new UsageError(sub === undefined ? "a config subcommand is required: show, set or reload." : `'${sub}' is not a config subcommand.`, "config");
    }
  }
}

/** `shoal checkpoint create|ls|rm|export|import`, shaped as `docker checkpoint`. */
function parseCheckpoint(args: readonly string[], addrSoFar: string): ParsedCommandLine {
  const [sub, ...subArgs] = args;
  const subs = ["create", "ls", "list", "rm", "remove", "export", "import"];
  if (sub === undefined) throw new UsageError("a checkpoint subcommand is required: create, ls, rm, export or import.", "checkpoint");
  if (sub === "--help" || sub === "-h") return { addr: addrSoFar, command: { kind: "help", topic: "checkpoint" } };
  if (!subs.includes(sub)) throw new UsageError(`'${sub}' is not a checkpoint subcommand.`, "checkpoint");
  const canonical = sub === "list" ? "ls" : sub === "remove" ? "rm" : sub;
  const topic = `checkpoint ${canonical}`;
  const specs: Record<string, FlagSpec[]> = {
    create: [{ name: "leave-running", kind: "bool" }, { name: "group", kind: "bool" }],
    ls: [FORMAT_FLAG],
    rm: [],
    export: [{ name: "output", short: "o", kind: "string" }],
    import: [],
  };
  const flags = parseFlags(subArgs, specs[canonical]!, topic, true);
  const a = normalizeAddr(flags.strings.get("addr") ?? addrSoFar);
  if (flags.bools.has("help")) return { addr: a, command: { kind: "help", topic } };
  const exactly = (n: number, what: string) => {
    if (flags.positionals.length !== n) throw argumentError(`"shoal ${topic}" requires exactly ${n} argument${n === 1 ? "" : "s"} (${what}).`, topic);
  };
  const p = flags.positionals;
  switch (canonical) {
    case "create":
      exactly(2, "CONTAINER CHECKPOINT");
      return { addr: a, command: { kind: "checkpoint-create", container: p[0]!, name: p[1]!, leaveRunning: flags.bools.has("leave-running"), group: flags.bools.has("group") } };
    case "ls":
      exactly(1, "CONTAINER");
      return { addr: a, command: { kind: "checkpoint-ls", container: p[0]!, format: parseFormat(flags, topic) } };
    case "rm":
      exactly(2, "CONTAINER CHECKPOINT");
      return { addr: a, command: { kind: "checkpoint-rm", container: p[0]!, name: p[1]! } };
    case "export": {
      exactly(2, "CONTAINER CHECKPOINT");
      const output = flags.strings.get("output") ?? "";
      if (output === "") throw new UsageError(`"shoal checkpoint export" requires -o FILE`, topic);
      return { addr: a, command: { kind: "checkpoint-export", container: p[0]!, name: p[1]!, output } };
    }
    default:
      exactly(1, "FILE");
      return { addr: a, command: { kind: "checkpoint-import", file: p[0]! } };
  }
}

function helpTopicOf(command: CliCommand): string {
  if (command.kind.startsWith("checkpoint-")) return `checkpoint ${command.kind.slice("checkpoint-".length)}`;
  if (command.kind.startsWith("config-")) return `config ${command.kind.slice("config-".length)}`;
  if (command.kind.startsWith("host-")) return `host ${command.kind.slice("host-".length)}`;
  if (command.kind === "image-inspect") return "image inspect";
  return command.kind;
}

/** Accepts docker-style `tcp://host:port` as well as gRPC targets (`host:port`, `unix:/path`, `dns:…`). */
export function normalizeAddr(addr: string): string {
  return addr.startsWith("tcp://") ? addr.slice("tcp://".length) : addr;
}
