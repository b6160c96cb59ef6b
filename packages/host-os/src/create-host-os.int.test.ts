import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AlreadyExistsError, FailedPreconditionError, InternalError, NotFoundError } from "@shoal/domain";
import { createHostOs } from "./create-host-os";

// Every behaviour through both ways of making mounts: the mount helper (the default) and
// mount(8)/umount(8) (the fallback).
const os = createHostOs();
const withTools = createHostOs({ mountHelper: false });
let dir = "";
const children: ChildProcess[] = [];

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("host-os int tests need root (mount(2) needs CAP_SYS_ADMIN); run as root");
  dir = await mkdtemp(join(tmpdir(), "shoal-host-os-"));
  for (const sub of ["helper", "tools"]) await os.mkdirp(join(dir, sub));
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  if (!dir) return;
  // Undo whatever a failed test left mounted, deepest first, then remove the temp dir.
  const leftovers = (await os.readMountInfo()).filter((m) => m.mountPoint.startsWith(`${dir}/`) || m.mountPoint === dir);
  for (const m of leftovers.reverse()) await os.unmount(m.mountPoint, { lazy: true }).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

describe.each([
  ["the mount helper", os],
  ["mount(8) and umount(8)", withTools],
])("createHostOs (Linux, as root) through %s", (how, os) => {
  // Each way in its own directory.
  const sub = how === "the mount helper" ? "helper" : "tools";

  it("mounts a tmpfs with size/mode and nosuid,nodev,noexec, reports it in mountinfo, and unmounts it", async () => {
    const target = join(dir, sub, "shm");
    await os.mkdirp(target);
    await os.mount({ source: "shm", target, fstype: "tmpfs", flags: ["nosuid", "nodev", "noexec"], data: "mode=1777,size=1m" });

    const entry = (await os.readMountInfo()).find((m) => m.mountPoint === target);
    expect(entry).toBeDefined();
    expect(entry?.fsType).toBe("tmpfs");
    expect(entry?.source).toBe("shm");
    expect(entry?.mountOptions).toEqual(expect.arrayContaining(["rw", "nosuid", "nodev", "noexec"]));
    expect(entry?.superOptions).toContain("size=1024k");
    // The kernel omits mode=1777 from super options (it is tmpfs's default); the root dir shows it.
    expect((await stat(target)).mode & 0o7777).toBe(0o1777);

    await os.unmount(target);
    expect((await os.readMountInfo()).some((m) => m.mountPoint === target)).toBe(false);
    await expect(os.unmount(target)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("round-trips a mount point with a space and a tab through mountinfo escapes", async () => {
    const target = join(dir, sub, "with space\tand tab");
    await os.mkdirp(target);
    await os.mount({ source: "src with space", target, fstype: "tmpfs", flags: [], data: "size=64k" });
    const entry = (await os.readMountInfo()).find((m) => m.mountPoint === target);
    expect(entry?.source).toBe("src with space");
    await os.unmount(target);
  });

  it("bind-mounts a directory onto itself and makes it shared", async () => {
    const target = join(dir, sub, "state");
    await os.mkdirp(target);
    await os.mount({ source: target, target, flags: ["bind"] });
    await os.makeRShared(target);
    const entry = (await os.readMountInfo()).findLast((m) => m.mountPoint === target);
    expect(entry?.propagation).toBe("shared");
    await expect(os.rmrf(target)).rejects.toBeInstanceOf(FailedPreconditionError);
    await os.unmount(target);
    await os.rmrf(target);
    expect(await os.pathExists(target)).toBe(false);
  });

  it("reports a missing mount target as NotFoundError", async () => {
    await expect(
      os.mount({ source: "t", target: join(dir, sub, "missing"), fstype: "tmpfs", flags: [] }),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(os.mount({ source: join(dir, sub, "no-source"), target: dir, flags: ["bind"] })).rejects.toBeInstanceOf(NotFoundError);
  });

  it("mkfifo makes a FIFO with the given mode and refuses an existing path", async () => {
    const path = join(dir, sub, "stdout");
    await os.mkfifo(path, 0o600);
    const st = await stat(path);
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    await expect(os.mkfifo(path, 0o600)).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(os.mkfifo(join(dir, sub, "nope", "x"), 0o600)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("refuses to unmount a busy mount with a clear EBUSY error and leaves it mounted", async () => {
    const target = join(dir, sub, "busy");
    await os.mkdirp(target);
    await os.mount({ source: "busy", target, fstype: "tmpfs", flags: [], data: "size=64k" });
    await writeFile(join(target, "f"), "x");
    const holder = spawn("/bin/sleep", ["600"], { cwd: target, stdio: "ignore" });
    children.push(holder);
    await new Promise<void>((resolve, reject) => {
      holder.once("spawn", resolve);
      holder.once("error", reject);
    });

    const err = await os.unmount(target).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toMatch(/target is busy \(EBUSY\)/);
    expect((await os.readMountInfo()).some((m) => m.mountPoint === target)).toBe(true);

    holder.kill("SIGKILL");
    await new Promise((resolve) => holder.once("exit", resolve));
    await os.unmount(target);
    expect((await os.readMountInfo()).some((m) => m.mountPoint === target)).toBe(false);
  });
});

describe("createHostOs's mount helper", () => {
  it("makes mounts, propagation changes and unmounts without mount(8) or umount(8)", async () => {
    const noTools = createHostOs({ mount: "/nonexistent/mount", umount: "/nonexistent/umount" });
    const target = join(dir, "helper-only");
    await noTools.mkdirp(target);
    await noTools.mount({ source: "shm", target, fstype: "tmpfs", flags: ["nosuid", "nodev", "noexec"], data: "mode=1777,size=65536" });
    await noTools.makeShared(target);
    const m = (await noTools.readMountInfo()).find((e) => e.mountPoint === target);
    expect(m?.fsType).toBe("tmpfs");
    expect(m?.propagation).toBe("shared");
    await noTools.unmount(target);
    expect((await noTools.readMountInfo()).some((e) => e.mountPoint === target)).toBe(false);
    // What one mount(2) call cannot carry still goes to mount(8): here, the missing tool.
    await expect(noTools.mount({ source: target, target, flags: ["bind", "ro"] })).rejects.toThrow(/\/nonexistent\/mount is not installed/);
  });

  it("falls back to mount(8) and umount(8) where the helper cannot be compiled", async () => {
    const fallback = createHostOs({ helperCacheDir: join(dir, "empty-cache"), helperCompiler: "/nonexistent/cc" });
    const target = join(dir, "fallback");
    await fallback.mkdirp(target);
    await fallback.mount({ source: "shm", target, fstype: "tmpfs", flags: [], data: "size=65536" });
    expect((await fallback.readMountInfo()).some((e) => e.mountPoint === target)).toBe(true);
    await fallback.unmount(target);
    expect((await fallback.readMountInfo()).some((e) => e.mountPoint === target)).toBe(false);
  });
});

describe("createHostOs's recursive read-only probe (mount_setattr(2) through the mount helper)", () => {
  it("finds this kernel able to make mounts recursively read-only, and leaves no mount or directory behind", async () => {
    // This machine runs Linux 6.x: mount_setattr(2) with AT_RECURSIVE exists (5.12+).
    const scratch = join(dir, "rro-probe");
    expect(await os.probeRecursiveReadOnly(scratch)).toEqual({ supported: true });
    expect((await os.readMountInfo()).some((m) => m.mountPoint === scratch)).toBe(false);
    expect(await os.pathExists(scratch)).toBe(false);
  });

  it("answers unsupported, saying why, where the helper that makes the call cannot be compiled", async () => {
    const noHelper = createHostOs({ helperCacheDir: join(dir, "empty-cache-rro"), helperCompiler: "/nonexistent/cc" });
    const verdict = await noHelper.probeRecursiveReadOnly(join(dir, "rro-probe-2"));
    expect(verdict).toEqual({ supported: false, reason: expect.stringMatching(/could not be compiled/) });
  });
});

describe("createHostOs's AppArmor calls", () => {
  it("reads AppArmor's kernel switch: Y is enabled; N or no module is not", async () => {
    const file = join(dir, "apparmor-enabled");
    await writeFile(file, "Y\n");
    expect(await createHostOs({ appArmorEnabledPath: file }).appArmorEnabled()).toBe(true);
    await writeFile(file, "N\n");
    expect(await createHostOs({ appArmorEnabledPath: file }).appArmorEnabled()).toBe(false);
    expect(await createHostOs({ appArmorEnabledPath: join(dir, "no-such-module") }).appArmorEnabled()).toBe(false);
  });

  it("loads a profile by giving its text to the parser on stdin with -Kr (replace, no cache)", async () => {
    const seen = join(dir, "parser-saw");
    const parser = join(dir, "fake-apparmor-parser");
    await writeFile(parser, `#!/bin/sh\nprintf '%s\\n' "$*" >"${seen}.args"\ncat >"${seen}.stdin"\n`, { mode: 0o755 });
    const text = "profile p flags=(attach_disconnected) {\n  file,\n}\n";
    await createHostOs({ apparmorParser: parser }).loadAppArmorProfile(text);
    expect(await readFile(`${seen}.args`, "utf8")).toBe("-Kr\n");
    expect(await readFile(`${seen}.stdin`, "utf8")).toBe(text);
  });

  it("refuses clearly when the parser is missing, refuses the text, or finds no AppArmor in the kernel", async () => {
    await expect(createHostOs({ apparmorParser: "/nonexistent/apparmor_parser" }).loadAppArmorProfile("profile p {}\n")).rejects.toThrow(
      FailedPreconditionError,
    );
    await expect(createHostOs({ apparmorParser: "/nonexistent/apparmor_parser" }).loadAppArmorProfile("profile p {}\n")).rejects.toThrow(
      /\/nonexistent\/apparmor_parser is not installed/,
    );
    const refusing = join(dir, "refusing-apparmor-parser");
    await writeFile(refusing, `#!/bin/sh\ncat >/dev/null\necho 'AppArmor parser error at line 2: syntax error' >&2\nexit 1\n`, { mode: 0o755 });
    const err = await createHostOs({ apparmorParser: refusing })
      .loadAppArmorProfile("profile p {\n  bogus,\n}\n")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalError);
    expect((err as Error).message).toMatch(/AppArmor parser error at line 2: syntax error/);
    // The real parser on this machine, whose kernel has AppArmor off: no filesystem to load into.
    if ((await stat("/sbin/apparmor_parser").catch(() => undefined)) === undefined) {
      throw new Error("prerequisite missing: /sbin/apparmor_parser (Debian's apparmor package; `npm test` installs it)");
    }
    await expect(os.loadAppArmorProfile("profile shoal-int-test {\n  file,\n}\n")).rejects.toThrow(FailedPreconditionError);
  });
});
