import { describe, expect, it } from "vitest";
import { FailedPreconditionError, InvalidArgumentError } from "@shoal/domain";
import { OCI_VERSION, type Spec } from "./spec";
import { rroSupport, runtimeSupportsRro, withBindMounts, type BindMount } from "./with-bind-mounts";

const empty: Spec = { ociVersion: OCI_VERSION, mounts: [{ destination: "/data", type: "tmpfs", source: "tmpfs" }] };
const yes = { supported: true } as const;
const enosys = { supported: false, reason: "the kernel refused a recursive read-only mount_setattr(2): Function not implemented (ENOSYS)" } as const;
const noKernel = rroSupport({ kernel: enosys, runtimeName: "runc", runtimeFeatures: '{"mountOptions":["rro"]}' });

describe("withBindMounts", () => {
  it.each<[string, BindMount, string[]]>([
    ["read-write", { source: "/h", destination: "/c" }, ["rbind", "rprivate"]],
    ["read-only", { source: "/h", destination: "/c", readonly: true }, ["rbind", "rprivate", "ro"]],
    ["read-only non-recursive", { source: "/h", destination: "/c", readonly: true, readonlyMode: "non-recursive" }, ["rbind", "rprivate", "ro"]],
    ["recursive read-only", { source: "/h", destination: "/c", readonly: true, readonlyMode: "recursive" }, ["rbind", "rprivate", "rro"]],
    ["rshared propagation", { source: "/h", destination: "/c", propagation: "rshared" }, ["rbind", "rshared"]],
  ])("%s", (_name, mount, options) => {
    const spec = withBindMounts([mount], { rro: yes })(empty);
    expect(spec.mounts?.at(-1)).toEqual({ destination: "/c", type: "bind", source: "/h", options });
  });

  it("a bind replaces an earlier mount at the same destination", () => {
    const spec = withBindMounts([{ source: "/h", destination: "/data" }], { rro: yes })(empty);
    expect(spec.mounts).toEqual([{ destination: "/data", type: "bind", source: "/h", options: ["rbind", "rprivate"] }]);
  });

  it("refuses recursive read-only where unsupported, saying what is missing", () => {
    const m: BindMount = { source: "/h", destination: "/c", readonly: true, readonlyMode: "recursive" };
    expect(() => withBindMounts([m], { rro: noKernel })).toThrow(FailedPreconditionError);
    expect(() => withBindMounts([m], { rro: noKernel })).toThrow(
      "bind mount /c: recursive read-only mounts are not available on this host: the kernel refused a recursive read-only mount_setattr(2): Function not implemented (ENOSYS)",
    );
    const noRuntime = rroSupport({ kernel: yes, runtimeName: "crun-old", runtimeFeatures: '{"mountOptions":["ro"]}' });
    expect(() => withBindMounts([m], { rro: noRuntime })).toThrow("runtime crun-old does not support rro");
    // Non-recursive read-only binds need no rro support.
    expect(() => withBindMounts([{ ...m, readonlyMode: "non-recursive" }], { rro: noKernel })).not.toThrow();
  });

  it.each<[string, BindMount[]]>([
    ["relative source", [{ source: "h", destination: "/c" }]],
    ["relative destination", [{ source: "/h", destination: "c" }]],
    ["readonlyMode without readonly", [{ source: "/h", destination: "/c", readonlyMode: "recursive" }]],
    ["duplicate destinations", [{ source: "/a", destination: "/c" }, { source: "/b", destination: "/c" }]],
  ])("rejects %s with InvalidArgumentError", (_name, mounts) => {
    expect(() => withBindMounts(mounts, { rro: yes })).toThrow(InvalidArgumentError);
  });
});

describe("runtimeSupportsRro", () => {
  const runc115 = JSON.stringify({
    ociVersionMin: "1.0.0",
    ociVersionMax: "1.0.2-dev",
    hooks: ["prestart"],
    mountOptions: ["bind", "nosuid", "private", "rbind", "ro", "rro", "rrw", "rshared"],
  });
  it.each<[string, unknown, boolean]>([
    ["runc 1.1.5 output", runc115, true],
    ["parsed object", JSON.parse(runc115), true],
    ["mountOptions without rro", '{"mountOptions":["ro","rbind"]}', false],
    ["no mountOptions", '{"ociVersionMin":"1.0.0"}', false],
    ["JSON null", "null", false],
  ])("%s → %s", (_name, features, want) => {
    expect(runtimeSupportsRro(features)).toBe(want);
  });

  it("rejects output that is not JSON", () => {
    expect(() => runtimeSupportsRro("runc: unknown command features")).toThrow(InvalidArgumentError);
  });

  it("rroSupport: the kernel's verdict first, then the runtime's features", () => {
    expect(rroSupport({ kernel: yes, runtimeName: "runc", runtimeFeatures: undefined })).toEqual({
      supported: false,
      reason: "runtime runc does not support rro",
    });
    expect(rroSupport({ kernel: yes, runtimeName: "runc", runtimeFeatures: runc115 })).toEqual({ supported: true });
    expect(rroSupport({ kernel: enosys, runtimeName: "runc", runtimeFeatures: runc115 })).toEqual({
      supported: false,
      reason: `recursive read-only mounts are not available on this host: ${enosys.reason}`,
    });
  });
});
