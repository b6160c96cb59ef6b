import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** Where Shoal's small C helpers are compiled to, one file per source hash, shared by the agents of a host. */
export const HELPER_CACHE_DIR = "/run/shoal/helpers";

/**
 * The path of `source` (one C file's text) compiled with `compiler` into `cacheDir` as
 * `<name>-<hash of the source>`: compiled on first use (static when the C library's archive
 * is there, so no dynamic loader runs on each start of it), then reused. A file there is
 * never rewritten, so a running copy is never replaced under it. Rejects when it cannot be
 * compiled (no compiler, no headers): callers fall back to what they did without it.
 */
export async function ensureCompiledHelper(
  source: string | Buffer,
  opts: { name: string; cacheDir?: string; compiler?: string },
): Promise<string> {
  const cacheDir = opts.cacheDir ?? HELPER_CACHE_DIR;
  const path = join(cacheDir, `${opts.name}-${createHash("sha256").update(source).digest("hex").slice(0, 16)}`);
  const present = await stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
  if (present) return path;
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  const compiler = opts.compiler ?? "cc";
  try {
    await writeFile(`${tmp}.c`, source);
    await execFileAsync(compiler, ["-O2", "-static", "-o", tmp, `${tmp}.c`]).catch(() => execFileAsync(compiler, ["-O2", "-o", tmp, `${tmp}.c`]));
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
    await rm(`${tmp}.c`, { force: true });
  }
  return path;
}
