import { InvalidArgumentError } from "@shoal/domain";
import { edit, requireProcess, type Process, type Spec, type SpecOpt, type User } from "./spec";

/** The PATH a process gets when its env has none (Docker's and containerd's default). */
export const DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface ProcessInput {
  /** argv; must not be empty. */
  readonly args: readonly string[];
  /** `KEY=value` entries; a PATH is added when none is given. */
  readonly env?: readonly string[];
  /** Absolute; default `/`. */
  readonly cwd?: string;
  /** Default root (0:0). */
  readonly user?: User;
  readonly terminal?: boolean;
}

/**
 * Sets the container's init process. Keeps fields other steps own (capabilities,
 * AppArmor, noNewPrivileges) when `spec.process` already exists.
 * InvalidArgumentError for empty args, a relative cwd, or an env entry without `=`.
 */
export function withProcess(input: ProcessInput): SpecOpt {
  const checked = checkProcessInput(input, "process");
  return (spec) =>
    edit(spec, (s) => {
      s.process = { ...(s.process ?? {}), ...checked, env: withDefaultPath(checked.env ?? []) };
    });
}

export interface ExecInput {
  readonly args: readonly string[];
  /** Added to the container's env; an entry replaces the container's entry with the same key. */
  readonly env?: readonly string[];
  /** Default: the container's cwd. */
  readonly cwd?: string;
  /** Default: the container's user. */
  readonly user?: User;
  readonly terminal?: boolean;
}

/**
 * The process spec for `exec` into a running container built from `containerSpec`.
 * The exec process inherits the container's AppArmor profile, capabilities, user,
 * noNewPrivileges, rlimits and SELinux label, so it is never less confined than the
 * container (DESIGN: exec processes get the container's AppArmor profile).
 * InvalidArgumentError as for withProcess; InternalError if the spec has no process.
 */
export function execProcessSpec(containerSpec: Spec, input: ExecInput): Process {
  const base = requireProcess(containerSpec, "execProcessSpec");
  const checked = checkProcessInput({ ...input, cwd: input.cwd ?? base.cwd, user: input.user ?? base.user }, "exec");
  const process: Process = {
    terminal: checked.terminal ?? false,
    user: structuredClone(checked.user),
    args: checked.args,
    env: withDefaultPath(mergeEnv(base.env ?? [], checked.env ?? [])),
    cwd: checked.cwd,
  };
  if (base.capabilities) process.capabilities = structuredClone(base.capabilities);
  if (base.rlimits) process.rlimits = structuredClone(base.rlimits);
  if (base.noNewPrivileges !== undefined) process.noNewPrivileges = base.noNewPrivileges;
  if (base.apparmorProfile !== undefined) process.apparmorProfile = base.apparmorProfile;
  if (base.selinuxLabel !== undefined) process.selinuxLabel = base.selinuxLabel;
  return process;
}

function checkProcessInput(
  input: ProcessInput,
  what: string,
): { args: string[]; env?: string[]; cwd: string; user: User; terminal?: boolean } {
  if (input.args.length === 0) throw new InvalidArgumentError(`${what}: args must not be empty`);
  const cwd = input.cwd ?? "/";
  if (!cwd.startsWith("/")) throw new InvalidArgumentError(`${what}: cwd must be absolute, got ${JSON.stringify(cwd)}`);
  for (const e of input.env ?? []) {
    if (!e.includes("=") || e.startsWith("=")) throw new InvalidArgumentError(`${what}: env entry ${JSON.stringify(e)} is not KEY=value`);
  }
  const user = input.user ?? { uid: 0, gid: 0 };
  if (![user.uid, user.gid].every((n) => Number.isInteger(n) && n >= 0)) {
    throw new InvalidArgumentError(`${what}: uid and gid must be non-negative integers`);
  }
  return {
    args: [...input.args],
    ...(input.env ? { env: [...input.env] } : {}),
    cwd,
    user: structuredClone(user),
    ...(input.terminal !== undefined ? { terminal: input.terminal } : {}),
  };
}

function keyOf(entry: string): string {
  return entry.slice(0, entry.indexOf("="));
}

function mergeEnv(base: readonly string[], extra: readonly string[]): string[] {
  const overridden = new Set(extra.map(keyOf));
  return [...base.filter((e) => !overridden.has(keyOf(e))), ...extra];
}

function withDefaultPath(env: readonly string[]): string[] {
  return env.some((e) => keyOf(e) === "PATH") ? [...env] : [DEFAULT_PATH_ENV, ...env];
}
