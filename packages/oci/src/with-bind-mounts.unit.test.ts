import { describe, expect, it } from "vitest";
import { FailedPreconditionError, InvalidArgumentError } from "@shoal/domain";
import { OCI_VERSION, type Spec } from "./spec";
import { kernelSupportsRro, rroSupport, runtimeSupportsRro, withBindMounts, type BindMount } from "./with-bind-mounts";

const empty: Spec = { ociVersion: OCI_VERSION, mounts: [{ destination: "/data", type: "tmpfs", source: "tmpfs" }] };
const yes = { supported: true } as const;
const noKernel = rroSupport({ kernelRelease: "5.10.0-28-amd64", runtimeName: "runc", runtimeFeatures: '{"mountOptions":["rro"]}' });

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
    expect(() => withBindMounts([m], { rro: noKernel })).toThrow("recursive read-only mounts need kernel ≥ 5.12 (have 5.10.0-28-amd64)");
    const noRuntime = rroSupport({ kernelRelease: "6.1.0", runtimeName: "crun-old", runtimeFeatures: '{"mountOptions":["ro"]}' });
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

describe("kernelSupportsRro", () => {
  it.each([
    ["6.1.0-18-amd64", true],
    ["6.18.44-fc-v595", true],
    ["5.12", true],
    ["5.12.0", true],
    ["5.11.22", false],
    ["5.4.0-150-generic", false],
    ["4.19.0-26-amd64", false],
    ["10.0", true],
    ["6.1.0-18-amd64\n", true],
  ])("%j → %s", (release, want) => {
    expect(kernelSupportsRro(release)).toBe(want);
  });

  it("rejects text that is not a release", () => {
    expect(() => kernelSupportsRro("Linux")).toThrow(InvalidArgumentError);
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

  it("rroSupport: a runtime without a features command has no rro", () => {
    expect(rroSupport({ kernelRelease: "6.1.0", runtimeName: "runc", runtimeFeatures: undefined })).toEqual({
      supported: false,
      reason: "runtime runc does not support rro",
    });
    expect(rroSupport({ kernelRelease: "6.1.0", runtimeName: "runc", runtimeFeatures: runc115 })).toEqual({ supported: true });
  });
});
