import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FailedPreconditionError } from "@shoal/domain";
import { createFakeHostOs } from "@shoal/host-os";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ensureSharedStateRoot, mountsAt, mountShm, releaseSharedStateRoot, unmountShm } from "./host-mounts";

const ROOT = "/var/lib/shoal";
const SHM = `${ROOT}/containers/abc/mounts/shm`;
let markerDir: string;
let marker: string;

beforeEach(async () => {
  markerDir = await mkdtemp(join(tmpdir(), "agent-marker-"));
  marker = join(markerDir, "state-root-bind.json");
});
afterEach(async () => {
  await rm(markerDir, { recursive: true, force: true });
});

describe("shm mounts", () => {
  it("mounts the owner's tmpfs with mode, size and nosuid,nodev,noexec, once however often it is asked", async () => {
    const os = createFakeHostOs({ directories: [ROOT] });
    expect(await mountShm(os, SHM, 1 << 20)).toEqual({ created: true });
    expect(await mountShm(os, SHM, 1 << 20)).toEqual({ created: false });
    const entries = mountsAt(os.mountTable(), SHM);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ fsType: "tmpfs" });
    expect(entries[0]!.superOptions).toEqual(expect.arrayContaining(["mode=1777", `size=${1 << 20}`]));
    expect(entries[0]!.mountOptions).toEqual(expect.arrayContaining(["nosuid", "nodev", "noexec"]));
  });

  it("mounts a new owner's path without reading the whole mount table", async () => {
    const os = createFakeHostOs({ directories: [ROOT] });
    await mountShm(os, SHM, 1 << 20);
    expect(os.calls.map((c) => c.op)).not.toContain("readMountInfo");
    expect(mountsAt(os.mountTable(), SHM)).toHaveLength(1);
  });

  it("refuses a size that is not a positive number of bytes", async () => {
    await expect(mountShm(createFakeHostOs(), SHM, 0)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("unmounts every stacked copy and removes the directory; an unmounted path is fine", async () => {
    const os = createFakeHostOs({ directories: [SHM] });
    await os.mount({ source: "shm", target: SHM, fstype: "tmpfs", flags: [] });
    await os.mount({ source: "shm", target: SHM, fstype: "tmpfs", flags: [] });
    expect(await unmountShm(os, SHM)).toEqual({ unmounted: 2 });
    expect(await os.pathExists(SHM)).toBe(false);
    expect(await unmountShm(os, SHM)).toEqual({ unmounted: 0 });
  });

  it("never forces a busy mount: EBUSY comes back and the mount stays", async () => {
    const os = createFakeHostOs({ directories: [ROOT] });
    await mountShm(os, SHM, 4096);
    os.failNext("unmount", new FailedPreconditionError(`unmount ${SHM}: target is busy (EBUSY)`));
    await expect(unmountShm(os, SHM)).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
    expect(mountsAt(os.mountTable(), SHM)).toHaveLength(1);
    expect(os.calls.filter((c) => c.op === "unmount").every((c) => c.op === "unmount" && !c.options.lazy)).toBe(true);
  });
});

describe("state root propagation", () => {
  it("binds a state root on a private mount onto itself, makes it rshared, and undoes only its own bind at clean shutdown", async () => {
    const os = createFakeHostOs({ directories: [ROOT] });
    expect(await ensureSharedStateRoot(os, ROOT, marker)).toEqual({ bound: true });
    const own = mountsAt(os.mountTable(), ROOT);
    expect(own).toHaveLength(1);
    expect(own[0]!.propagation).toBe("shared");
    // A restarted agent (after a crash) finds it shared and does not bind again.
    expect(await ensureSharedStateRoot(os, ROOT, marker)).toEqual({ bound: true });
    expect(mountsAt(os.mountTable(), ROOT)).toHaveLength(1);

    await releaseSharedStateRoot(os, ROOT, marker);
    expect(mountsAt(os.mountTable(), ROOT)).toHaveLength(0);
  });

  it("leaves a state root that is already on a shared mount alone", async () => {
    const os = createFakeHostOs({ directories: [ROOT], rootShared: true });
    expect(await ensureSharedStateRoot(os, ROOT, marker)).toEqual({ bound: false });
    expect(os.calls.some((c) => c.op === "mount")).toBe(false);
  });

  it("never unmounts a state root that is a mount of its own (an operator's filesystem, a volume) at shutdown", async () => {
    const os = createFakeHostOs({ directories: [ROOT] });
    await os.mount({ source: "/dev/vdb1", target: ROOT, fstype: "ext4", flags: [] });
    await os.makeRShared(ROOT);
    expect(await ensureSharedStateRoot(os, ROOT, `${marker}.none`)).toEqual({ bound: false });
    await releaseSharedStateRoot(os, ROOT, `${marker}.none`);
    expect(mountsAt(os.mountTable(), ROOT)).toHaveLength(1);
  });

  it("keeps its bind while anything is mounted below the state root", async () => {
    const os = createFakeHostOs({ directories: [ROOT] });
    await ensureSharedStateRoot(os, ROOT, marker);
    await mountShm(os, SHM, 4096);
    await expect(releaseSharedStateRoot(os, ROOT, marker)).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
    expect(mountsAt(os.mountTable(), ROOT)).toHaveLength(1);
  });
});
