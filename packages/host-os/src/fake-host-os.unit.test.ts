import { describe, expect, it } from "vitest";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
} from "@shoal/domain";
import { createFakeHostOs } from "./fake-host-os";

const shm = "/var/lib/shoal/containers/abc/mounts/shm";

describe("createFakeHostOs", () => {
  it("keeps a mount table that readMountInfo reports, and unmount removes the entry", async () => {
    const os = createFakeHostOs({ directories: [shm] });
    await os.mount({ source: "shm", target: shm, fstype: "tmpfs", flags: ["nosuid", "nodev", "noexec"], data: "mode=1777,size=65536k" });
    const entry = (await os.readMountInfo()).find((m) => m.mountPoint === shm);
    expect(entry).toMatchObject({
      fsType: "tmpfs",
      source: "shm",
      mountOptions: ["rw", "nosuid", "nodev", "noexec", "relatime"],
      superOptions: ["rw", "mode=1777", "size=65536k"],
      propagation: "private",
    });
    await os.unmount(shm);
    expect((await os.readMountInfo()).some((m) => m.mountPoint === shm)).toBe(false);
  });

  it("follows the real contract: missing target, not mounted, busy with submounts", async () => {
    const os = createFakeHostOs({ directories: ["/a/b"] });
    await expect(os.mount({ source: "t", target: "/nope", fstype: "tmpfs", flags: [] })).rejects.toBeInstanceOf(NotFoundError);
    await expect(os.unmount("/a")).rejects.toBeInstanceOf(NotFoundError);
    await os.mount({ source: "t", target: "/a", fstype: "tmpfs", flags: [] });
    await os.mkdirp("/a/b");
    await os.mount({ source: "t2", target: "/a/b", fstype: "tmpfs", flags: [] });
    await expect(os.unmount("/a")).rejects.toThrow(/busy/);
    await expect(os.rmrf("/a")).rejects.toBeInstanceOf(FailedPreconditionError);
    await os.unmount("/a", { lazy: true });
    expect(os.mountTable().map((m) => m.mountPoint)).toEqual(["/"]);
    await expect(os.mount({ source: "t", target: "rel", fstype: "tmpfs", flags: [] })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("bind mounts show the source's filesystem and root; mounts under an rshared tree are shared", async () => {
    const os = createFakeHostOs({ directories: ["/state/c1/shm", "/bundle/dev/shm"] });
    await os.mount({ source: "/state", target: "/state", flags: ["bind"] });
    await os.makeRShared("/state");
    await os.mount({ source: "shm", target: "/state/c1/shm", fstype: "tmpfs", flags: [], data: "size=1m" });
    await os.mount({ source: "/state/c1/shm", target: "/bundle/dev/shm", flags: ["bind"] });
    const table = os.mountTable();
    const owner = table.find((m) => m.mountPoint === "/state/c1/shm");
    const bound = table.find((m) => m.mountPoint === "/bundle/dev/shm");
    expect(owner?.propagation).toBe("shared");
    expect(bound).toMatchObject({ fsType: "tmpfs", source: "shm", root: "/" });
    expect(table.find((m) => m.mountPoint === "/state")).toMatchObject({ root: "/state", fsType: "ext4", propagation: "shared" });
  });

  it("fails on cue: failNext once per op, failWhen until removed, with no effect and the call recorded", async () => {
    const os = createFakeHostOs({ directories: ["/m"] });
    const boom = new InternalError("injected");
    os.failNext("mount", boom);
    await expect(os.mount({ source: "t", target: "/m", fstype: "tmpfs", flags: [] })).rejects.toBe(boom);
    expect(os.mountTable()).toHaveLength(1);
    await os.mount({ source: "t", target: "/m", fstype: "tmpfs", flags: [] });

    const busy = new FailedPreconditionError("unmount /m: target is busy (EBUSY)");
    const stop = os.failWhen((c) => c.op === "unmount" && c.target === "/m", busy);
    await expect(os.unmount("/m")).rejects.toBe(busy);
    await expect(os.unmount("/m")).rejects.toBe(busy);
    stop();
    await os.unmount("/m");
    expect(os.calls.map((c) => c.op)).toEqual(["mount", "mount", "unmount", "unmount", "unmount"]);
  });

  it("mkfifo, mkdirp, rmdir, rmrf and pathExists keep a file tree", async () => {
    const os = createFakeHostOs({ directories: ["/run/shoal/h1"] });
    await os.mkfifo("/run/shoal/h1/stdout", 0o600);
    await expect(os.mkfifo("/run/shoal/h1/stdout", 0o600)).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(os.mkfifo("/run/shoal/missing/x", 0o600)).rejects.toBeInstanceOf(NotFoundError);
    await expect(os.rmdir("/run/shoal/h1")).rejects.toThrow(/not empty/);
    await os.rmrf("/run/shoal/h1");
    expect(await os.pathExists("/run/shoal/h1/stdout")).toBe(false);
    expect(await os.pathExists("/run/shoal")).toBe(true);
    await os.rmdir("/run/shoal");
    await expect(os.rmdir("/run/shoal")).rejects.toBeInstanceOf(NotFoundError);
  });

  it("answers the AppArmor switch and the rro probe as configured, records loaded profiles, and fails them on cue", async () => {
    const off = createFakeHostOs();
    expect(await off.appArmorEnabled()).toBe(false);
    expect(await off.probeRecursiveReadOnly("/run/shoal/h/rro-probe")).toEqual({ supported: true });

    const no = { supported: false, reason: "ENOSYS" } as const;
    const os = createFakeHostOs({ appArmorEnabled: true, recursiveReadOnly: no });
    expect(await os.appArmorEnabled()).toBe(true);
    expect(await os.probeRecursiveReadOnly("/run/shoal/h/rro-probe")).toEqual(no);
    await expect(os.probeRecursiveReadOnly("rel")).rejects.toBeInstanceOf(InvalidArgumentError);

    os.failNext("loadAppArmorProfile", new FailedPreconditionError("no parser"));
    await expect(os.loadAppArmorProfile("profile a {}")).rejects.toThrow("no parser");
    await os.loadAppArmorProfile("profile b {}");
    expect(os.loadedAppArmorProfiles).toEqual(["profile b {}"]);
    expect(os.calls.filter((c) => c.op === "loadAppArmorProfile")).toHaveLength(2);
  });
});

