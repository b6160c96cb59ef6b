import { describe, expect, it } from "vitest";
import { FailedPreconditionError, InvalidArgumentError } from "@shoal/domain";
import { buildSpec, type BuildSpecInput } from "./build-spec";
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from "./with-capabilities";
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from "./with-default-mounts";
import { DEFAULT_PATH_ENV } from "./with-process";

const id = "0123456789abcdef".repeat(4);
const ownerShm = `/var/lib/shoal/containers/${id}/mounts/shm`;

const shareable: BuildSpecInput = {
  id,
  process: { args: ["/bin/sh", "-c", "echo hi"], env: ["FOO=bar"] },
  hostname: "web-1",
  ipc: { mode: "shareable", shmSizeBytes: 67108864, shmMountPath: ownerShm },
  bindMounts: [{ source: "/srv/data", destination: "/data", readonly: true }],
  securityOpt: ["no-new-privileges"],
  apparmorEnabled: false,
  cgroupPrefix: "shoal/host-1",
  memoryBytes: 268435456,
};

describe("buildSpec", () => {
  it("builds the full spec of a shareable owner", () => {
    expect(buildSpec(shareable)).toEqual({
      ociVersion: "1.0.2",
      hostname: "web-1",
      process: {
        args: ["/bin/sh", "-c", "echo hi"],
        env: [DEFAULT_PATH_ENV, "FOO=bar"],
        cwd: "/",
        user: { uid: 0, gid: 0 },
        capabilities: {
          bounding: [...DEFAULT_CAPABILITIES],
          effective: [...DEFAULT_CAPABILITIES],
          permitted: [...DEFAULT_CAPABILITIES],
          inheritable: [],
          ambient: [],
        },
        noNewPrivileges: true,
      },
      root: { path: "rootfs", readonly: false },
      mounts: [
        { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
        { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
        {
          destination: "/dev/shm",
          type: "bind",
          source: ownerShm,
          options: ["bind", "private", "nosuid", "nodev", "noexec"],
        },
        {
          destination: "/dev/pts",
          type: "devpts",
          source: "devpts",
          options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
        { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
        { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"] },
        { destination: "/data", type: "bind", source: "/srv/data", options: ["rbind", "rprivate", "ro"] },
      ],
      linux: {
        namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "network" }],
        resources: { devices: [{ allow: false, access: "rwm" }], memory: { limit: 268435456, swap: 536870912 } },
        cgroupsPath: `/shoal/host-1/${id}`,
        maskedPaths: [...DEFAULT_MASKED_PATHS],
        readonlyPaths: [...DEFAULT_READONLY_PATHS],
      },
    });
  });

  it("a member joins its owner's ipc namespace and binds the owner's shm", () => {
    const spec = buildSpec({
      ...shareable,
      id: "f".repeat(64),
      ipc: { mode: "container", ownerId: id, ownerPid: 3141, shmSizeBytes: 67108864, shmMountPath: ownerShm },
      bindMounts: [],
    });
    expect(spec.linux?.namespaces).toContainEqual({ type: "ipc", path: "/proc/3141/ns/ipc" });
    expect(spec.mounts?.find((m) => m.destination === "/dev/shm")?.source).toBe(ownerShm);
  });

  it("privileged, host network, read-only rootfs, AppArmor enabled", () => {
    const spec = buildSpec({
      ...shareable,
      privileged: true,
      network: "host",
      readonlyRootfs: true,
      apparmorEnabled: true,
      securityOpt: [],
      ipc: { mode: "private", shmSizeBytes: 1048576 },
    });
    expect(spec.root).toEqual({ path: "rootfs", readonly: true });
    expect(spec.process?.apparmorProfile).toBe("unconfined");
    expect(spec.process?.capabilities?.bounding).toEqual([...ALL_CAPABILITIES]);
    expect(spec.linux?.namespaces?.map((n) => n.type)).toEqual(["pid", "ipc", "uts", "mount"]);
    expect(spec.linux?.maskedPaths).toEqual([]);
  });

  it("host IPC: no ipc namespace entry, the host's /dev/shm bound in", () => {
    const spec = buildSpec({ ...shareable, ipc: { mode: "host" }, hostShmPath: "/dev/shm" });
    expect(spec.linux?.namespaces?.some((n) => n.type === "ipc")).toBe(false);
    expect(spec.mounts?.find((m) => m.destination === "/dev/shm")).toMatchObject({ type: "bind", source: "/dev/shm" });
  });

  it("refuses a recursive read-only bind when rro support was not established", () => {
    const input = { ...shareable, bindMounts: [{ source: "/a", destination: "/b", readonly: true, readonlyMode: "recursive" as const }] };
    expect(() => buildSpec(input)).toThrow(FailedPreconditionError);
    expect(buildSpec({ ...input, rro: { supported: true } }).mounts?.at(-1)?.options).toContain("rro");
  });

  it.each(["shareable", "container"] as const)("refuses a user bind on /dev/shm for %s IPC", (mode) => {
    const ipc =
      mode === "shareable"
        ? shareable.ipc
        : { mode, ownerId: id, ownerPid: 2, shmSizeBytes: 1, shmMountPath: ownerShm };
    expect(() => buildSpec({ ...shareable, ipc, bindMounts: [{ source: "/x", destination: "/dev/shm" }] })).toThrow(
      InvalidArgumentError,
    );
  });
});
