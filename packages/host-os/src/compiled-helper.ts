import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** Where Shoal's small C helpers are compiled to, one file per source hash, shared by the agents of a host. */
export const HELPER_CACHE_DIR = "/run/shoal/helpers";

/**
 * `<dir>/<name>-<hash of content>`, made from `content` on first use by `make(tmp)` (which
 * writes the file at `tmp`) and renamed into place, then reused. A file there is never
 * rewritten, so a copy that is running is never replaced under it.
 */
export async function ensureContentFile(
  dir: string,
  name: string,
  content: string | Buffer,
  make: (tmp: string) => Promise<void>,
): Promise<string> {
  const path = join(dir, `${name}-${createHash("sha256").update(content).digest("hex").slice(0, 16)}`);
  const present = await stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
  if (present) return path;
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await make(tmp);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
  return path;
}

/**
 * `source` (one C file's text) compiled with `compiler` into `cacheDir`, as
 * `ensureContentFile` names it: on first use (static when the C library's archive is there,
 * so no dynamic loader runs on each start of it), then reused. Rejects when it cannot be
 * compiled (no compiler, no headers): callers fall back to what they did without it.
 */
export function ensureCompiledHelper(
  source: string | Buffer,
  opts: { name: string; cacheDir?: string; compiler?: string },
): Promise<string> {
  const compiler = opts.compiler ?? "cc";
  return ensureContentFile(opts.cacheDir ?? HELPER_CACHE_DIR, opts.name, source, async (tmp) => {
    try {
      await writeFile(`${tmp}.c`, source);
      await execFileAsync(compiler, ["-O2", "-static", "-o", tmp, `${tmp}.c`]).catch(() => execFileAsync(compiler, ["-O2", "-o", tmp, `${tmp}.c`]));
    } finally {
      await rm(`${tmp}.c`, { force: true });
    }
  });
}
