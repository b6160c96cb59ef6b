/**
 * How an image's config and a user's `create` options make a container's config: Docker's
 * rules (the daemon's merge at create, then its `[""]` entrypoint reset), decided once at
 * create and recorded on ContainerCreated, so every host runs the same command.
 */
import { InvalidArgumentError } from "../errors";

/** The parts of an image's config (OCI `config`) that decide how a container runs. */
export interface ImageRunConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  stopSignal?: string;
}

/** What the user gave: absent and empty mean "not given", except `entrypoint` (`[]` is `--entrypoint ""`). */
export interface UserRunConfig {
  /** The command after the image (Docker's Cmd). */
  cmd: string[];
  /** `--entrypoint`; undefined when not given. */
  entrypoint?: string[];
  env: string[];
  workingDir?: string;
  user?: string;
  stopSignal?: string;
}

/** The merged config: `args` is what runs (entrypoint then cmd). */
export interface MergedRunConfig {
  entrypoint: string[];
  cmd: string[];
  args: string[];
  env: string[];
  /** Empty: the runtime's default (`/`). */
  workingDir: string;
  /** Empty: root. */
  user: string;
  /** Empty: SIGTERM. */
  stopSignal: string;
}

/**
 * Docker's merge: the user's env first, then each image variable whose name the user did not
 * set; the user's entrypoint replaces the image's and then the image's Cmd is dropped too
 * (`--entrypoint ""` clears it); with neither entrypoint nor command given, the image's
 * Cmd; workdir, user and stop signal from the image unless given. InvalidArgumentError
 * "No command specified" when nothing is left to run.
 */
export function mergeImageConfig(image: ImageRunConfig, user: UserRunConfig): MergedRunConfig {
  let entrypoint = user.entrypoint;
  let cmd = user.cmd;
  if (entrypoint === undefined) {
    entrypoint = image.entrypoint ?? [];
    if (cmd.length === 0) cmd = image.cmd ?? [];
  }
  // `--entrypoint ""` reaches Docker's daemon as [""] and is reset to none.
  if (entrypoint.length === 1 && entrypoint[0] === "") entrypoint = [];
  if (entrypoint.length === 0 && cmd.length === 0) throw new InvalidArgumentError("No command specified");
  return {
    entrypoint: [...entrypoint],
    cmd: [...cmd],
    args: [...entrypoint, ...cmd],
    env: mergeEnv(image.env ?? [], user.env),
    workingDir: nonEmpty(user.workingDir) ?? image.workingDir ?? "",
    user: nonEmpty(user.user) ?? image.user ?? "",
    stopSignal: nonEmpty(user.stopSignal) ?? image.stopSignal ?? "",
  };
}

function mergeEnv(image: readonly string[], user: readonly string[]): string[] {
  if (user.length === 0) return [...image];
  const given = new Set(user.map(envName));
  return [...user, ...image.filter((e) => !given.has(envName(e)))];
}

function envName(entry: string): string {
  const at = entry.indexOf("=");
  return at < 0 ? entry : entry.slice(0, at);
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === "" ? undefined : s;
}
