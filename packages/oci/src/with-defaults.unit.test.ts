import { describe, expect, it } from "vitest";
import { InternalError, InvalidArgumentError } from "@shoal/domain";
import { OCI_VERSION, type Spec } from "./spec";
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, withCapabilities } from "./with-capabilities";
import { withCgroupsPath, withResources } from "./with-cgroups-path";
import { DEFAULT_MASKED_PATHS, withDefaultMounts, withMaskedAndReadonlyPaths } from "./with-default-mounts";
import { withNamespaces } from "./with-namespaces";
import { withProcess } from "./with-process";
import { overlayRootfsMounts, withReadonlyRootfs, withRootfs } from "./with-rootfs";

const empty: Spec = { ociVersion: OCI_VERSION };
const id = "a".repeat(64);

describe("withRootfs / withReadonlyRootfs / overlayRootfsMounts", () => {
  it("names the bundle-relative rootfs that containerd mounts", () => {
    expect(withRootfs()(empty).root).toEqual({ path: "rootfs", readonly: false });
    expect(withReadonlyRootfs()(withRootfs()(empty)).root).toEqual({ path: "rootfs", readonly: true });
  });

  it.each([
    [
      "overlay: the directory is the lower layer and never written",
      { lowerdir: "/srv/rootfs", upperdir: "/var/lib/shoal/c/upper", workdir: "/var/lib/shoal/c/work" },
      [{ type: "overlay", source: "overlay", options: ["lowerdir=/srv/rootfs", "upperdir=/var/lib/shoal/c/upper", "workdir=/var/lib/shoal/c/work"] }],
    ],
    ["read-only: a read-only bind", { lowerdir: "/srv/rootfs" }, [{ type: "bind", source: "/srv/rootfs", options: ["rbind", "ro"] }]],
  ])("%s", (_name, dirs, want) => {
    expect(overlayRootfsMounts(dirs)).toEqual(want);
  });

  it.each([
    ["relative lowerdir", { lowerdir: "rootfs" }],
    ["upperdir without workdir", { lowerdir: "/r", upperdir: "/u" }],
    ["comma in a path", { lowerdir: "/r,x", upperdir: "/u", workdir: "/w" }],
    ["colon in a path", { lowerdir: "/r:x" }],
  ])("rejects %s", (_name, dirs) => {
    expect(() => overlayRootfsMounts(dirs)).toThrow(InvalidArgumentError);
  });
});

describe("withDefaultMounts", () => {
  it("mounts /dev/mqueue as an mqueue filesystem, never a bind of the host's", () => {
    const mq = withDefaultMounts()(empty).mounts?.find((m) => m.destination === "/dev/mqueue");
    expect(mq).toEqual({ destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] });
  });

  it.each([
    [false, "/sys", true],
    [false, "/sys/fs/cgroup", true],
    [true, "/sys", false],
    [true, "/sys/fs/cgroup", false],
  ])("privileged=%s: %s read-only is %s", (privileged, destination, ro) => {
    const m = withDefaultMounts({ privileged })(empty).mounts?.find((x) => x.destination === destination);
    expect(m?.options?.includes("ro")).toBe(ro);
  });

  it("lists /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys, cgroup in mount order and keeps other mounts after them", () => {
    const spec = withDefaultMounts()({ ...empty, mounts: [{ destination: "/data", type: "bind", source: "/h" }, { destination: "/proc", type: "bind", source: "/x" }] });
    expect(spec.mounts?.map((m) => m.destination)).toEqual([
      "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/data",
    ]);
    expect(spec.mounts?.[0]?.type).toBe("proc");
  });

  it("masks and read-only-remounts the default /proc and /sys paths, except when privileged", () => {
    const linux = withMaskedAndReadonlyPaths()(empty).linux;
    expect(linux?.maskedPaths).toEqual([...DEFAULT_MASKED_PATHS]);
    expect(linux?.maskedPaths).toContain("/proc/kcore");
    expect(linux?.readonlyPaths).toContain("/proc/sys");
    const privileged = withMaskedAndReadonlyPaths({ privileged: true })(empty).linux;
    expect(privileged).toMatchObject({ maskedPaths: [], readonlyPaths: [] });
  });
});

describe("withCapabilities", () => {
  const withProc = withProcess({ args: ["sh"] })(empty);
  it.each([
    [false, DEFAULT_CAPABILITIES, 14],
    [true, ALL_CAPABILITIES, 41],
  ])("privileged=%s", (privileged, caps, count) => {
    const c = withCapabilities(privileged)(withProc).process?.capabilities;
    expect(caps).toHaveLength(count);
    expect(c).toEqual({ bounding: [...caps], effective: [...caps], permitted: [...caps], inheritable: [], ambient: [] });
  });

  it("the default set has no CAP_SYS_ADMIN, the privileged set has it", () => {
    expect(DEFAULT_CAPABILITIES).not.toContain("CAP_SYS_ADMIN");
    expect(ALL_CAPABILITIES).toContain("CAP_SYS_ADMIN");
  });

  it("needs withProcess first", () => {
    expect(() => withCapabilities(false)(empty)).toThrow(InternalError);
  });
});

describe("withNamespaces", () => {
  it.each([
    ["new network", {}, ["pid", "uts", "mount", "network"]],
    ["host network", { network: "host" as const }, ["pid", "uts", "mount"]],
  ])("%s", (_name, options, types) => {
    const ns = withNamespaces(options)(empty).linux?.namespaces;
    expect(ns?.map((n) => n.type)).toEqual(types);
    expect(ns?.every((n) => n.path === undefined)).toBe(true);
  });

  it("leaves the ipc entry (withIpc's) as it is", () => {
    const joined: Spec = { ...empty, linux: { namespaces: [{ type: "ipc", path: "/proc/9/ns/ipc" }, { type: "user" }] } };
    expect(withNamespaces()(joined).linux?.namespaces).toContainEqual({ type: "ipc", path: "/proc/9/ns/ipc" });
    expect(withNamespaces()(joined).linux?.namespaces?.some((n) => n.type === "user")).toBe(false);
  });
});

describe("withCgroupsPath / withResources", () => {
  it.each([
    ["shoal", "/shoal/" + id],
    ["shoal/host-1", "/shoal/host-1/" + id],
    ["/shoal/host-2/", "/shoal/host-2/" + id],
  ])("prefix %j → %s", (prefix, path) => {
    expect(withCgroupsPath(prefix, id)(empty).linux?.cgroupsPath).toBe(path);
  });

  it("two hosts on one machine get disjoint cgroup paths for the same id", () => {
    const a = withCgroupsPath("shoal/h1", id)(empty).linux?.cgroupsPath;
    const b = withCgroupsPath("shoal/h2", id)(empty).linux?.cgroupsPath;
    expect(a).not.toBe(b);
  });

  it.each([
    ["", id],
    ["shoal/../etc", id],
    ["sho al", id],
    ["shoal", "bad/id"],
    ["shoal", ""],
  ])("rejects prefix %j id %j", (prefix, badId) => {
    expect(() => withCgroupsPath(prefix, badId)).toThrow(InvalidArgumentError);
  });

  it("sets memory (swap at twice the limit, Docker's default) and CPU limits, keeps device rules; nothing when absent", () => {
    const withDevices: Spec = { ...empty, linux: { resources: { devices: [{ allow: false, access: "rwm" }] } } };
    expect(withResources({ memoryBytes: 1 << 30 })(withDevices).linux?.resources).toEqual({
      devices: [{ allow: false, access: "rwm" }],
      memory: { limit: 1 << 30, swap: 2 ** 31 },
    });
    expect(withResources({ nanoCpus: 1_500_000_000 })(withDevices).linux?.resources).toEqual({
      devices: [{ allow: false, access: "rwm" }],
      cpu: { quota: 150_000, period: 100_000 },
    });
    expect(withResources({})(withDevices)).toEqual(withDevices);
    expect(() => withResources({ memoryBytes: 0 })).toThrow(InvalidArgumentError);
    expect(() => withResources({ nanoCpus: -1 })).toThrow(InvalidArgumentError);
  });
});
