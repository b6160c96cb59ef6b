/**
 * The runtime agent's wrapper directory on disk. See runtime-wrappers.ts for naming.
 *
 * Lifetime: a wrapper file, once there, is never changed or deleted while the agent
 * runs (a container started with it may run it again for exec, kill or delete). Stale
 * files are removed only at agent start: `list()` → planStaleWrapperRemoval → `remove()`.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import posixPath from "node:path/posix";
import { InternalError, InvalidArgumentError } from "@shoal/domain";
import type { RuntimeConfig } from "./daemon-config";
import { isWrapperFileName, wrapperFileName, wrapperScript, wrapperTempFileName } from "./runtime-wrappers";

/** The file operations the store needs; `node:fs/promises` satisfies it, tests may fake it. */
export interface WrapperFs {
  mkdir(path: string, options: { recursive: true; mode: number }): Promise<unknown>;
  readFile(path: string, encoding: "utf8"): Promise<string>;
  /** With flag `wx`: fails with EEXIST instead of replacing a file. */
  writeFile(path: string, data: string, options: { mode: number; flag: "wx" }): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  /** Fails with EEXIST when `newPath` exists: the atomic "create only if absent". */
  link(existingPath: string, newPath: string): Promise<void>;
  rename(oldPath: string, newPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
}

export interface WrapperStore {
  /** Absolute directory holding the wrappers; pass it to resolveRuntime as `wrapperDir`. */
  readonly dir: string;
  /**
   * Makes sure the wrapper for `runtime` exists and returns its path (the same path
   * resolveRuntime gives). Creates `dir` if needed. A new file is written to a
   * temporary name, made mode 0755 and then hard-linked into place (renamed where the
   * filesystem has no hard links), so the final name never shows a partial file and an
   * existing file is never replaced — same name, same content. Only a file at that name whose content is NOT the script (damaged, e.g.
   * by a crash before the data reached the disk) is replaced, atomically by rename.
   * Concurrent calls for the same runtime are safe. I/O failures: InternalError with
   * the cause.
   */
  ensure(runtime: Pick<RuntimeConfig, "path" | "runtimeArgs">): Promise<string>;
  /** The wrapper and leftover temporary file names in `dir` (empty when `dir` is missing). */
  list(): Promise<string[]>;
  /**
   * Deletes these file names from `dir`. Only for the agent's start, with names from
   * planStaleWrapperRemoval's `remove`. A name with a `/` throws InvalidArgumentError;
   * already-missing files are fine.
   */
  remove(names: readonly string[]): Promise<void>;
}

export type WrapperStoreOptions = { dir: string; fs?: WrapperFs };

const WRAPPER_MODE = 0o755;

function errnoCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : undefined;
}

export function createWrapperStore(options: WrapperStoreOptions): WrapperStore {
  const { dir } = options;
  const files: WrapperFs = options.fs ?? fs;
  if (!posixPath.isAbsolute(dir)) throw new InvalidArgumentError(`wrapper directory must be absolute, got ${dir}`);

  async function readIfPresent(path: string): Promise<string | undefined> {
    try {
      return await files.readFile(path, "utf8");
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return undefined;
      throw err;
    }
  }


  async function ensure(runtime: Pick<RuntimeConfig, "path" | "runtimeArgs">): Promise<string> {
    const script = wrapperScript(runtime);
    const name = wrapperFileName(script);
    const path = posixPath.join(dir, name);
    try {
      const existing = await readIfPresent(path);
      if (existing === script) return path;
      await files.mkdir(dir, { recursive: true, mode: WRAPPER_MODE });
      const temp = posixPath.join(dir, wrapperTempFileName(name, `${process.pid}-${randomBytes(6).toString("hex")}`));
      try {
        await files.writeFile(temp, script, { mode: WRAPPER_MODE, flag: "wx" });
        await files.chmod(temp, WRAPPER_MODE); // writeFile's mode is reduced by the umask
        if (existing === undefined) {
          try {
            await files.link(temp, path);
          } catch (err) {
            const code = errnoCode(err);
            // EEXIST: another writer got there first; its file has the same name, so the same
            // content unless damaged (checked below). Anything else (a filesystem without hard
            // links): fall back to rename, which at worst replaces a concurrent writer's
            // identical file.
            if (code !== "EEXIST") {
              await files.rename(temp, path);
              return path;
            }
          }
          if ((await readIfPresent(path)) === script) return path;
        }
        await files.rename(temp, path);
        return path;
      } finally {
        await files.unlink(temp).catch(() => undefined);
      }
    } catch (err) {
      throw new InternalError(`cannot write runtime wrapper ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  async function list(): Promise<string[]> {
    let names: string[];
    try {
      names = await files.readdir(dir);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return [];
      throw new InternalError(`cannot list runtime wrappers in ${dir}: ${(err as Error).message}`, { cause: err });
    }
    return names.filter((n) => isWrapperFileName(n) || n.startsWith(".runtime-")).sort();
  }

  async function remove(names: readonly string[]): Promise<void> {
    for (const name of names) {
      if (name.includes("/") || name === "" || name === "." || name === "..") {
        throw new InvalidArgumentError(`not a file name in the wrapper directory: ${name}`);
      }
    }
    for (const name of names) {
      try {
        await files.unlink(posixPath.join(dir, name));
      } catch (err) {
        if (errnoCode(err) === "ENOENT") continue;
        throw new InternalError(`cannot remove runtime wrapper ${name}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  return { dir, ensure, list, remove };
}
