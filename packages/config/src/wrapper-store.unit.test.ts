import { describe, expect, it } from "vitest";
import { InternalError, InvalidArgumentError } from "@shoal/domain";
import { wrapperFileName, wrapperScript } from "./runtime-wrappers";
import { createWrapperStore } from "./wrapper-store";
import type { WrapperFs } from "./wrapper-store";

const errno = (code: string) => Object.assign(new Error(`${code}: simulated`), { code });

/** An in-memory directory tree of files; `fail` makes one operation throw on cue. */
function memoryFs(fail: Partial<Record<keyof WrapperFs, (path: string, files: Map<string, string>) => void>> = {}) {
  const files = new Map<string, string>();
  const modes = new Map<string, number>();
  const hit = (op: keyof WrapperFs, path: string) => fail[op]?.(path, files);
  const fs: WrapperFs = {
    async mkdir(path) {
      hit("mkdir", path);
    },
    async readFile(path) {
      hit("readFile", path);
      const data = files.get(path);
      if (data === undefined) throw errno("ENOENT");
      return data;
    },
    async writeFile(path, data, options) {
      hit("writeFile", path);
      if (files.has(path)) throw errno("EEXIST");
      files.set(path, data);
      modes.set(path, options.mode & 0o700); // as if the umask were 077
    },
    async chmod(path, mode) {
      hit("chmod", path);
      modes.set(path, mode);
    },
    async link(from, to) {
      hit("link", to);
      if (files.has(to)) throw errno("EEXIST");
      files.set(to, files.get(from)!);
      modes.set(to, modes.get(from)!);
    },
    async rename(from, to) {
      hit("rename", to);
      files.set(to, files.get(from)!);
      modes.set(to, modes.get(from)!);
      files.delete(from);
    },
    async unlink(path) {
      hit("unlink", path);
      if (!files.delete(path)) throw errno("ENOENT");
    },
    async readdir(dir) {
      hit("readdir", dir);
      return [...files.keys()].filter((p) => p.startsWith(`${dir}/`)).map((p) => p.slice(dir.length + 1));
    },
  };
  return { fs, files, modes };
}

const dir = "/state/runtimes";
const runtime = { path: "/usr/sbin/runc", runtimeArgs: ["--debug"] };
const finalPath = `${dir}/${wrapperFileName(wrapperScript(runtime))}`;

describe("wrapper store (logic, with a fake filesystem)", () => {
  it("makes the file 0755 even when the umask strips the mode, and leaves no temp file", async () => {
    const { fs, files, modes } = memoryFs();
    expect(await createWrapperStore({ dir, fs }).ensure(runtime)).toBe(finalPath);
    expect([...files.keys()]).toEqual([finalPath]);
    expect(modes.get(finalPath)).toBe(0o755);
  });

  it("when another writer links the same wrapper first, uses theirs and cleans up its temp file", async () => {
    const { fs, files } = memoryFs({
      link: (to, all) => {
        all.set(to, wrapperScript(runtime)); // the other writer wins the race
      },
    });
    expect(await createWrapperStore({ dir, fs }).ensure(runtime)).toBe(finalPath);
    expect([...files.keys()]).toEqual([finalPath]);
  });

  it("falls back to rename on a filesystem without hard links", async () => {
    const { fs, files } = memoryFs({
      link: () => {
        throw errno("EPERM");
      },
    });
    expect(await createWrapperStore({ dir, fs }).ensure(runtime)).toBe(finalPath);
    expect(files.get(finalPath)).toBe(wrapperScript(runtime));
    expect(files.size).toBe(1);
  });

  it("reports an I/O failure as InternalError with the cause, and leaves nothing half-written behind", async () => {
    const { fs, files } = memoryFs({
      chmod: () => {
        throw errno("EIO");
      },
    });
    const err = await createWrapperStore({ dir, fs })
      .ensure(runtime)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalError);
    expect((err as InternalError).message).toContain(finalPath);
    expect(((err as InternalError).cause as { code: string }).code).toBe("EIO");
    expect(files.size).toBe(0);
  });

  it("remove ignores files already gone and reports other failures", async () => {
    const { fs } = memoryFs({
      unlink: (path) => {
        if (path.endsWith("busy")) throw errno("EBUSY");
      },
    });
    const store = createWrapperStore({ dir, fs });
    await expect(store.remove(["runtime-gone"])).resolves.toBeUndefined();
    await expect(store.remove(["busy"])).rejects.toBeInstanceOf(InternalError);
    await expect(store.remove(["a/b"])).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("refuses a relative directory", () => {
    expect(() => createWrapperStore({ dir: "runtimes" })).toThrow(InvalidArgumentError);
  });
});
