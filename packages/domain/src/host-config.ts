/**
 * A container's host configuration as given at create time (Docker's HostConfig subset
 * that Shoal supports), validated once and stored parsed on ContainerCreated.
 */
import { z } from "zod";
import { InvalidArgumentError } from "./errors";
import { parseIpcMode } from "./ipc-mode";
import type { IpcMode } from "./ipc-mode";
import { parseShmSize, validateShmSizeForMode } from "./shm-size";
import { parseSecurityOpt } from "./security-opt";
import { parseCpus, parseMemory } from "./resources";
import { parseRestartPolicy } from "./restart-policy";
import { formatDurationMs, parseDurationMs } from "./duration";
import type { RestartPolicy } from "./restart-policy";

/**
 * A host directory or file bound into the container.
 * `readonlyMode` exists only on read-only mounts: `recursive` demands that submounts are
 * read-only too (rro: kernel 5.12+ and runtime support, else the start fails with a
 * clear error); `nonrecursive` makes only the top mount read-only; absent means
 * recursive where supported, else non-recursive (Docker 25's default).
 */
export type BindMount = {
  type: "bind";
  source: string;
  target: string;
  readonly: boolean;
  readonlyMode?: "recursive" | "nonrecursive";
};

/** A parsed, valid host config. Optional fields are absent (not undefined) when unset. */
export type HostConfig = {
  ipcMode: IpcMode;
  /** Bytes; absent means the daemon default (see effectiveShmSize). */
  shmSize?: number;
  /** `--rm`: remove the container once it has exited or failed to start. */
  autoRemove: boolean;
  /** Runtime name from the daemon config; absent means `default-runtime`. */
  runtime?: string;
  /** Validated `--security-opt` strings, as given (see parseSecurityOpt). */
  securityOpt: string[];
  readonlyRootfs: boolean;
  mounts: BindMount[];
  privileged: boolean;
  /** `--memory`: the cgroup memory limit in bytes; absent means unlimited. Placement reserves it. */
  memory?: number;
  /** `--cpus` in nano-CPUs (Docker's NanoCpus); absent means unlimited. Placement reserves it. */
  nanoCpus?: number;
  /** `--restart`; absent means `no` (and so does every container created before policies existed). */
  restartPolicy?: RestartPolicy;
  /**
   * `--stop-on-disconnect` (Nomad's stop_after_client_disconnect), in ms: the host's agent
   * stops the container itself once cut off from the control plane this long. Must be
   * shorter than the heartbeat timeout (stopOnDisconnectRefusal), so the container is
   * stopped before the control plane could place it elsewhere.
   */
  stopOnDisconnectMs?: number;
};

const RUNTIME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function fromParser<T>(parse: (v: never) => T) {
  return (value: unknown, ctx: z.RefinementCtx<unknown>): T => {
    try {
      return parse(value as never);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  };
}

const absolutePath = z
  .string()
  .refine((p) => p.startsWith("/"), "must be an absolute path")
  .refine((p) => !p.includes("\0"), "must not contain NUL");

const bindMountSchema = z
  .strictObject({
    type: z.literal("bind"),
    source: absolutePath,
    target: absolutePath.refine((p) => !/^\/+$/.test(p), "cannot be /"),
    readonly: z.boolean().optional(),
    readonlyMode: z.enum(["recursive", "nonrecursive"]).optional(),
  })
  .superRefine((m, ctx) => {
    if (m.readonlyMode !== undefined && m.readonly !== true) {
      ctx.addIssue({ code: "custom", path: ["readonlyMode"], message: "only allowed with readonly: true" });
    }
  })
  .transform((m): BindMount => {
    const out: BindMount = { type: "bind", source: m.source, target: m.target, readonly: m.readonly ?? false };
    if (m.readonlyMode !== undefined) out.readonlyMode = m.readonlyMode;
    return out;
  });

/**
 * The accepted input: every field optional, unknown keys refused. `ipcMode` is the
 * `--ipc` text, `shmSize` and `memory` bytes or a size string (`64m`), `cpus` a decimal
 * number of CPUs (`1.5`), `restart` the `--restart` text. Parsing yields a HostConfig.
 */
export const hostConfigSchema = z
  .strictObject({
    ipcMode: z.string().default("").transform(fromParser(parseIpcMode)),
    shmSize: z.union([z.string(), z.number()]).optional().transform(fromParser(parseShmSize)),
    autoRemove: z.boolean().default(false),
    runtime: z.string().refine((r) => RUNTIME_NAME.test(r), "invalid runtime name").optional(),
    securityOpt: z.array(z.string().transform(fromParser((s: string) => (parseSecurityOpt(s), s)))).default([]),
    readonlyRootfs: z.boolean().default(false),
    mounts: z.array(bindMountSchema).default([]),
    privileged: z.boolean().default(false),
    memory: z.union([z.string(), z.number()]).optional().transform(fromParser(parseMemory)),
    cpus: z.union([z.string(), z.number()]).optional().transform(fromParser(parseCpus)),
    restart: z.string().optional().transform(fromParser(parseRestartPolicy)),
    stopOnDisconnect: z
      .union([z.string(), z.number()])
      .optional()
      .transform(fromParser((v: string | number | undefined) => (v === undefined || v === "" || v === 0 ? undefined : parseDurationMs(v)))),
  })
  .superRefine((hc, ctx) => {
    if (hc.autoRemove && typeof hc.restart === "object" && hc.restart.name !== "no") {
      ctx.addIssue({ code: "custom", path: ["restart"], message: "conflicting options: cannot specify both --restart and --rm" });
    }
    if (typeof hc.ipcMode !== "object" || hc.ipcMode === null) return; // already reported
    try {
      validateShmSizeForMode(hc.ipcMode, hc.shmSize);
    } catch (err) {
      ctx.addIssue({ code: "custom", path: ["shmSize"], message: (err as Error).message });
    }
  })
  .transform((hc): HostConfig => {
    const out: HostConfig = {
      ipcMode: hc.ipcMode,
      autoRemove: hc.autoRemove,
      securityOpt: hc.securityOpt,
      readonlyRootfs: hc.readonlyRootfs,
      mounts: hc.mounts,
      privileged: hc.privileged,
    };
    if (hc.shmSize !== undefined) out.shmSize = hc.shmSize;
    if (hc.runtime !== undefined) out.runtime = hc.runtime;
    if (hc.memory !== undefined) out.memory = hc.memory;
    if (hc.cpus !== undefined) out.nanoCpus = hc.cpus;
    if (hc.restart.name !== "no") out.restartPolicy = hc.restart;
    if (hc.stopOnDisconnect !== undefined) out.stopOnDisconnectMs = hc.stopOnDisconnect;
    return out;
  });

/**
 * Refuses a `--stop-on-disconnect` not shorter than the heartbeat timeout: the control
 * plane would mark the host lost, and a restart policy place the container elsewhere,
 * before the cut-off host stopped it (InvalidArgumentError); undefined when it is fine.
 */
export function stopOnDisconnectRefusal(stopOnDisconnectMs: number | undefined, heartbeatTimeoutMs: number): InvalidArgumentError | undefined {
  if (stopOnDisconnectMs === undefined || stopOnDisconnectMs < heartbeatTimeoutMs) return undefined;
  return new InvalidArgumentError(
    `--stop-on-disconnect ${formatDurationMs(stopOnDisconnectMs)} must be shorter than the heartbeat timeout (${formatDurationMs(heartbeatTimeoutMs)}): the host must stop the container before the control plane gives up on the host`,
  );
}

/** What callers may pass to parseHostConfig. */
export type HostConfigInput = z.input<typeof hostConfigSchema>;

/**
 * Validates and parses a host config. Throws InvalidArgumentError
 * `invalid host config: <field>: <problem>; <field>: <problem>` naming every bad
 * field (e.g. `mounts[0].source: must be an absolute path`); the zod error is the cause.
 */
export function parseHostConfig(input: unknown): HostConfig {
  const result = hostConfigSchema.safeParse(input ?? {}, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.flatMap(describeIssue);
  throw new InvalidArgumentError(`invalid host config: ${problems.join("; ")}`, { cause: result.error });
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const at = formatPath(issue.path);
  const prefix = at === "" ? "" : `${at}: `;
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((k) => `${formatPath([...issue.path, k])}: unknown field`);
    case "invalid_type":
      return [`${prefix}expected ${issue.expected}, got ${describeValue(issue.input)}`];
    case "invalid_value":
      return [`${prefix}expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`];
    case "invalid_union":
      return [`${prefix}expected ${at === "shmSize" || at === "memory" ? "a number or a size string" : at === "cpus" ? "a number or a decimal string" : at === "stopOnDisconnect" ? "a number or a duration string" : "a different type"}, got ${describeValue(issue.input)}`];
    default:
      return [`${prefix}${issue.message}`];
  }
}

function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function formatPath(path: PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out;
}
