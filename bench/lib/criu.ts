/**
 * Which CRIU the engines of a checkpoint benchmark get. None of them is told a path: runc
 * (podman's runtime, and docker's through containerd's shim) runs the `criu` first on the
 * PATH it inherits, and Shoal's agent gets this process's PATH from the e2e stack. So the
 * benchmark puts the directory of the working CRIU first on its own PATH before it starts
 * anything, and checks what `criu` resolves to.
 */
import { constants } from "node:fs";
import { access, readFile } from "node:fs/promises";
import { delimiter, dirname, join } from "node:path";
import { runQuiet } from "./processes";

/** Where setup builds CRIU ≥ 4.2 (Debian 12's criu 3.17, /usr/sbin/criu, fails on these kernels). */
export const WORKING_CRIU = "/usr/local/sbin/criu";
const MINIMUM: readonly [number, number] = [4, 2];

export interface CriuOnPath {
  /** What `criu` resolves to on PATH now. */
  path: string;
  /** `criu --version`'s "Version:" value, e.g. 4.2.1. */
  version: string;
  /** The Debian package `criu`'s version when it is installed (its /usr/sbin/criu comes later on PATH), else undefined. */
  debianPackage: string | undefined;
  /**
   * The sha256 of Shoal's CRIU patch set (scripts/criu/*.patch) that setup built into
   * `WORKING_CRIU`, from its stamp file; undefined when `path` is not that binary or has no stamp.
   */
  shoalPatchSet: string | undefined;
}

/**
 * Puts the directory of `WORKING_CRIU` first on `process.env.PATH` (children started after
 * this inherit it), then resolves `criu`. Throws when it is missing or older than 4.2,
 * naming what was found; call it before starting any engine.
 */
export async function putWorkingCriuFirst(): Promise<CriuOnPath> {
  const dir = dirname(WORKING_CRIU);
  const rest = (process.env.PATH ?? "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(delimiter).filter((d) => d !== dir && d !== "");
  process.env.PATH = [dir, ...rest].join(delimiter);
  const path = await findOnPath("criu");
  if (path === undefined) throw new Error(`no criu on PATH: setup builds CRIU ≥ ${MINIMUM.join(".")} into ${WORKING_CRIU} (npm test does it)`);
  const r = await runQuiet(path, ["--version"]);
  const version = /Version:\s*(\S+)/.exec(r.stdout)?.[1];
  if (r.code !== 0 || version === undefined) throw new Error(`${path} --version failed: ${(r.stderr || r.stdout).trim()}`);
  const [major = 0, minor = 0] = version.split(".").map(Number);
  if (major < MINIMUM[0] || (major === MINIMUM[0] && minor < MINIMUM[1])) {
    throw new Error(`criu on PATH is ${path} ${version}; checkpoints need ≥ ${MINIMUM.join(".")} here (Debian 12's 3.17 fails on this kernel): setup builds one into ${WORKING_CRIU}`);
  }
  const dpkg = await runQuiet("dpkg-query", ["-W", "-f", "${Status} ${Version}", "criu"]);
  const debianPackage = dpkg.code === 0 && dpkg.stdout.startsWith("install ok installed") ? dpkg.stdout.split(" ").pop() : undefined;
  const shoalPatchSet = path === WORKING_CRIU ? (await readFile(`${WORKING_CRIU}.shoal-patches`, "utf8").catch(() => "")).trim() || undefined : undefined;
  return { path, version, debianPackage, shoalPatchSet };
}

async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    try {
      await access(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // next directory
    }
  }
  return undefined;
}
