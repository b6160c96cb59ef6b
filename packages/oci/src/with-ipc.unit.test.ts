import { describe, expect, it } from "vitest";
import { InvalidArgumentError, type IpcPlan } from "@shoal/domain";
import { OCI_VERSION, type Spec } from "./spec";
import { withDefaultMounts } from "./with-default-mounts";
import { withIpc } from "./with-ipc";
import { withNamespaces } from "./with-namespaces";

const ownerShm = "/var/lib/shoal/containers/aaaa/mounts/shm";
const mib64 = 64 * 1024 * 1024;

/** A spec as buildSpec has it before withIpc: default mounts (with a default /dev/shm) and namespaces. */
function before(): Spec {
  return [withDefaultMounts(), withNamespaces()].reduce((s, f) => f(s), { ociVersion: OCI_VERSION } as Spec);
}

const bindOptions = ["bind", "private", "nosuid", "nodev", "noexec"];

describe("withIpc: DESIGN.md's IPC table", () => {
  const cases: {
    mode: string;
    plan: IpcPlan;
    hostShmPath?: string;
    ipcNamespace: { type: "ipc"; path?: string } | undefined;
    shm: { type: string; source: string; options: string[] } | undefined;
  }[] = [
    {
      mode: "private",
      plan: { mode: "private", shmSizeBytes: mib64 },
      ipcNamespace: { type: "ipc" },
      shm: { type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", `size=${mib64}`] },
    },
    {
      mode: "shareable",
      plan: { mode: "shareable", shmSizeBytes: mib64, shmMountPath: ownerShm },
      ipcNamespace: { type: "ipc" },
      shm: { type: "bind", source: ownerShm, options: bindOptions },
    },
    { mode: "none", plan: { mode: "none" }, ipcNamespace: { type: "ipc" }, shm: undefined },
    {
      mode: "host (default host path)",
      plan: { mode: "host" },
      ipcNamespace: undefined,
      shm: { type: "bind", source: "/dev/shm", options: bindOptions },
    },
    {
      mode: "host (given host path)",
      plan: { mode: "host" },
      hostShmPath: "/run/host-shm",
      ipcNamespace: undefined,
      shm: { type: "bind", source: "/run/host-shm", options: bindOptions },
    },
    {
      mode: "container",
      plan: { mode: "container", ownerId: "aaaa", ownerPid: 4242, shmSizeBytes: mib64, shmMountPath: ownerShm },
      ipcNamespace: { type: "ipc", path: "/proc/4242/ns/ipc" },
      shm: { type: "bind", source: ownerShm, options: bindOptions },
    },
  ];

  it.each(cases)("$mode", ({ plan, hostShmPath, ipcNamespace, shm }) => {
    const spec = withIpc(plan, hostShmPath ? { hostShmPath } : {})(before());
    const namespaces = spec.linux?.namespaces ?? [];
    expect(namespaces.filter((n) => n.type === "ipc")).toEqual(ipcNamespace ? [ipcNamespace] : []);
    // The other namespaces are untouched.
    expect(namespaces.filter((n) => n.type !== "ipc").map((n) => n.type)).toEqual(["pid", "uts", "mount", "network"]);

    const shmMounts = (spec.mounts ?? []).filter((m) => m.destination === "/dev/shm");
    expect(shmMounts).toEqual(shm ? [{ destination: "/dev/shm", ...shm }] : []);
    if (shm) {
      // /dev/shm must come after /dev, or the /dev tmpfs would hide it.
      const order = (spec.mounts ?? []).map((m) => m.destination);
      expect(order.indexOf("/dev/shm")).toBeGreaterThan(order.indexOf("/dev"));
    }
  });

  it("is pure: the input spec is unchanged", () => {
    const spec = before();
    const copy = structuredClone(spec);
    withIpc({ mode: "none" })(spec);
    expect(spec).toEqual(copy);
  });

  it("replaces an earlier ipc namespace entry instead of adding a second", () => {
    const joined = withIpc({ mode: "container", ownerId: "a", ownerPid: 7, shmSizeBytes: 1, shmMountPath: ownerShm })(before());
    const again = withIpc({ mode: "private", shmSizeBytes: 1024 })(joined);
    expect(again.linux?.namespaces?.filter((n) => n.type === "ipc")).toEqual([{ type: "ipc" }]);
  });

  it.each<[string, IpcPlan]>([
    ["zero shm size", { mode: "private", shmSizeBytes: 0 }],
    ["negative shm size", { mode: "shareable", shmSizeBytes: -1, shmMountPath: ownerShm }],
    ["fractional shm size", { mode: "private", shmSizeBytes: 1.5 }],
    ["relative shm path", { mode: "shareable", shmSizeBytes: 1, shmMountPath: "containers/a/mounts/shm" }],
    ["owner pid 0", { mode: "container", ownerId: "a", ownerPid: 0, shmSizeBytes: 1, shmMountPath: ownerShm }],
  ])("rejects %s with InvalidArgumentError", (_name, plan) => {
    expect(() => withIpc(plan)).toThrow(InvalidArgumentError);
  });
});
