/**
 * The wrapper store on a real directory, and the wrappers it writes run by the real
 * /bin/sh: arguments must reach the runtime byte for byte.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { createConfigSnapshot } from "./config-snapshot";
import { parseDaemonConfig } from "./daemon-config";
import type { RuntimeConfig } from "./daemon-config";
import { planStaleWrapperRemoval, resolveRuntime, wrapperFileName, wrapperFileNamesOf, wrapperScript } from "./runtime-wrappers";
import { createWrapperStore } from "./wrapper-store";

const run = promisify(execFile);

// A "runtime" that prints every argument it gets, each followed by a NUL byte
// (a loop, because printf with no arguments would still print its format once).
const PRINT_ARGS = ["-c", 'for a in "$@"; do printf "%s\\0" "$a"; done', "argv0"];

let root: string;

beforeAll(async () => {
  if (!existsSync("/bin/sh")) throw new Error("prerequisite missing: /bin/sh (the wrappers are POSIX sh scripts)");
  root = await fsp.mkdtemp(path.join(os.tmpdir(), "shoal-config-wrappers-"));
});

afterAll(async () => {
  if (root) await fsp.rm(root, { recursive: true, force: true });
});

async function freshDir(name: string): Promise<string> {
  return path.join(await fsp.mkdtemp(path.join(root, `${name}-`)), "runtimes");
}

async function argsSeenBy(wrapperPath: string, callerArgs: string[]): Promise<string[]> {
  const { stdout } = await run(wrapperPath, callerArgs, { encoding: "buffer" });
  const parts = stdout.toString("utf8").split("\0");
  expect(parts.pop()).toBe(""); // every argument ends with a NUL (and no output splits to [""])
  return parts;
}

describe("wrapper store on a real directory", () => {
  it("writes runtime-<sha256> with the script, mode 0755 whatever the umask, at the path resolveRuntime gives", async () => {
    const dir = await freshDir("create");
    const store = createWrapperStore({ dir });
    const runtime: RuntimeConfig = { path: "/bin/sh", runtimeArgs: PRINT_ARGS };
    const oldUmask = process.umask(0o077);
    let written: string;
    try {
      written = await store.ensure(runtime);
    } finally {
      process.umask(oldUmask);
    }
    const snapshot = createConfigSnapshot(1, parseDaemonConfig({ runtimes: { printer: runtime } }));
    expect(written).toBe(resolveRuntime(snapshot, "printer", dir).path);
    expect(path.basename(written)).toBe(wrapperFileName(wrapperScript(runtime)));
    expect(await fsp.readFile(written, "utf8")).toBe(wrapperScript(runtime));
    expect((await fsp.stat(written)).mode & 0o777).toBe(0o755);
    expect(await fsp.readdir(dir)).toEqual([path.basename(written)]);
  });

  it("ensuring the same runtime again leaves the file as it is (same inode, same mtime)", async () => {
    const store = createWrapperStore({ dir: await freshDir("again") });
    const runtime = { path: "/bin/sh", runtimeArgs: PRINT_ARGS };
    const first = await store.ensure(runtime);
    const before = await fsp.stat(first);
    const second = await store.ensure(runtime);
    const after = await fsp.stat(second);
    expect(second).toBe(first);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
  });

  it("changed args make a new file; the old one, possibly used by a running container, is untouched", async () => {
    const dir = await freshDir("changed");
    const store = createWrapperStore({ dir });
    const oldPath = await store.ensure({ path: "/bin/sh", runtimeArgs: [...PRINT_ARGS, "v1"] });
    const oldStat = await fsp.stat(oldPath);
    const newPath = await store.ensure({ path: "/bin/sh", runtimeArgs: [...PRINT_ARGS, "v2"] });
    expect(newPath).not.toBe(oldPath);
    expect((await fsp.stat(oldPath)).ino).toBe(oldStat.ino);
    expect(await argsSeenBy(oldPath, ["x"])).toEqual(["v1", "x"]);
    expect(await argsSeenBy(newPath, ["x"])).toEqual(["v2", "x"]);
    expect((await fsp.readdir(dir)).sort()).toEqual([path.basename(oldPath), path.basename(newPath)].sort());
  });

  it("concurrent ensures of one runtime leave exactly one complete file and no temporary files", async () => {
    const dir = await freshDir("concurrent");
    const store = createWrapperStore({ dir });
    const runtime = { path: "/bin/sh", runtimeArgs: PRINT_ARGS };
    const paths = await Promise.all(Array.from({ length: 16 }, () => store.ensure(runtime)));
    expect(new Set(paths).size).toBe(1);
    expect(await fsp.readdir(dir)).toEqual([path.basename(paths[0]!)]);
    expect(await fsp.readFile(paths[0]!, "utf8")).toBe(wrapperScript(runtime));
  });

  it("a damaged file under a wrapper's name (e.g. emptied by a crash) is replaced with the right content", async () => {
    const store = createWrapperStore({ dir: await freshDir("damaged") });
    const runtime = { path: "/bin/sh", runtimeArgs: PRINT_ARGS };
    const p = await store.ensure(runtime);
    await fsp.writeFile(p, "");
    expect(await store.ensure(runtime)).toBe(p);
    expect(await fsp.readFile(p, "utf8")).toBe(wrapperScript(runtime));
    expect(await argsSeenBy(p, ["ok"])).toEqual(["ok"]);
  });

  it("at agent start: stale wrappers and leftover temp files go, in-use and current ones and foreign files stay", async () => {
    const dir = await freshDir("cleanup");
    const store = createWrapperStore({ dir });
    const usedByContainer = await store.ensure({ path: "/bin/sh", runtimeArgs: [...PRINT_ARGS, "old-but-running"] });
    const stale = await store.ensure({ path: "/bin/sh", runtimeArgs: [...PRINT_ARGS, "stale"] });
    const snapshot = createConfigSnapshot(
      3,
      parseDaemonConfig({ runtimes: { cur: { path: "/bin/sh", runtimeArgs: [...PRINT_ARGS, "current"] } } }),
    );
    const current = await store.ensure(snapshot.config.runtimes["cur"]!);
    const leftoverTemp = `.${path.basename(stale)}.tmp-999-deadbeef`;
    await fsp.writeFile(path.join(dir, leftoverTemp), "partial");
    await fsp.writeFile(path.join(dir, "operator-notes.txt"), "mine");

    const present = await store.list();
    expect(present).not.toContain("operator-notes.txt");
    const plan = planStaleWrapperRemoval({
      present: await fsp.readdir(dir), // whatever is there, foreign files included
      inUse: new Set([usedByContainer]),
      current: wrapperFileNamesOf(snapshot),
    });
    expect(plan.remove.sort()).toEqual([leftoverTemp, path.basename(stale)].sort());
    await store.remove(plan.remove);

    expect((await fsp.readdir(dir)).sort()).toEqual(
      [path.basename(usedByContainer), path.basename(current), "operator-notes.txt"].sort(),
    );
    expect(await store.list()).toEqual([path.basename(usedByContainer), path.basename(current)].sort());
  });

  it("list on a directory that does not exist yet is empty; remove refuses paths", async () => {
    const store = createWrapperStore({ dir: await freshDir("missing") });
    expect(await store.list()).toEqual([]);
    await expect(store.remove(["../etc/passwd"])).rejects.toThrow(/not a file name/);
  });
});

describe("wrappers run by the real /bin/sh", () => {
  it("pass the runtime's args and then the caller's through exactly (spaces, quotes, $, newlines, unicode, empty)", async () => {
    const store = createWrapperStore({ dir: await freshDir("sh") });
    const arg = fc
      .oneof(
        fc.string({ unit: "binary", maxLength: 20 }),
        fc.constantFrom("", " ", "'", "''", "'\\''", '"', "$HOME", "`id`", "$(id)", "a\nb", "\\", "-c", "--", "*", "a b  c"),
      )
      .filter((s) => !s.includes("\0") && Buffer.from(s, "utf8").toString("utf8") === s);
    await fc.assert(
      fc.asyncProperty(fc.array(arg, { maxLength: 5 }), fc.array(arg, { maxLength: 5 }), async (runtimeArgs, callerArgs) => {
        const wrapper = await store.ensure({ path: "/bin/sh", runtimeArgs: [...PRINT_ARGS, ...runtimeArgs] });
        expect(await argsSeenBy(wrapper, callerArgs)).toEqual([...runtimeArgs, ...callerArgs]);
      }),
      { numRuns: 60 },
    );
  });

  it("find a runtime whose path has spaces, quotes and $ in it", async () => {
    const odd = path.join(root, `it's a "dir" $x`);
    await fsp.mkdir(odd);
    await fsp.symlink("/bin/sh", path.join(odd, "rt"));
    const store = createWrapperStore({ dir: await freshDir("odd-path") });
    const wrapper = await store.ensure({ path: path.join(odd, "rt"), runtimeArgs: PRINT_ARGS });
    expect(await argsSeenBy(wrapper, ["x y", "'"])).toEqual(["x y", "'"]);
  });

  it("exit with the runtime's exit code (exec replaces the shell)", async () => {
    const store = createWrapperStore({ dir: await freshDir("exit") });
    const wrapper = await store.ensure({ path: "/bin/sh", runtimeArgs: ["-c", 'echo "$$" ; exit 7', "argv0"] });
    const err = await run(wrapper, []).catch((e: { code?: number }) => e);
    expect((err as { code?: number }).code).toBe(7);
  });
});
