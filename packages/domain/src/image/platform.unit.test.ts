import { describe, expect, it } from "vitest";
import { NotFoundError } from "../errors";
import type { Descriptor, ImageIndex, Platform } from "./manifest";
import { chooseManifest, compatiblePlatforms, formatPlatform, normalizePlatform, platformMatches } from "./platform";

const AMD64: Platform = { os: "linux", architecture: "amd64" };

function entry(n: number, platform?: Platform): Descriptor {
  return {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: `sha256:${String(n).padStart(64, "0")}`,
    size: 100 + n,
    ...(platform !== undefined ? { platform } : {}),
  };
}
const index = (...manifests: Descriptor[]): ImageIndex => ({ schemaVersion: 2, manifests });

describe("platform normalisation and order (containerd's platforms.Only)", () => {
  it.each([
    [{ os: "Linux", architecture: "x86_64" }, "linux/amd64"],
    [{ os: "linux", architecture: "amd64", variant: "v1" }, "linux/amd64"],
    [{ os: "linux", architecture: "aarch64", variant: "v8" }, "linux/arm64"],
    [{ os: "linux", architecture: "armhf" }, "linux/arm/v7"],
    [{ os: "linux", architecture: "armel" }, "linux/arm/v6"],
    [{ os: "linux", architecture: "arm" }, "linux/arm/v7"],
    [{ os: "linux", architecture: "i386" }, "linux/386"],
    [{ os: "macos", architecture: "arm64" }, "darwin/arm64"],
  ])("%j is %s", (p, formatted) => {
    expect(formatPlatform(normalizePlatform(p))).toBe(formatted);
  });

  it.each([
    [AMD64, ["linux/amd64", "linux/386"]],
    [{ ...AMD64, variant: "v3" }, ["linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"]],
    [{ os: "linux", architecture: "arm64" }, ["linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]],
    [{ os: "linux", architecture: "arm64", variant: "v8.2" }, ["linux/arm64/v8.2", "linux/arm64/v8.1", "linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]],
    [{ os: "linux", architecture: "arm", variant: "v6" }, ["linux/arm/v6", "linux/arm/v5"]],
  ])("a %j host runs %j, best first", (host, expected) => {
    expect(compatiblePlatforms(host).map(formatPlatform)).toEqual(expected);
  });

  it("amd64 does not run arm64, nor another OS", () => {
    expect(platformMatches(AMD64, { os: "linux", architecture: "arm64" })).toBe(false);
    expect(platformMatches(AMD64, { os: "windows", architecture: "amd64" })).toBe(false);
    expect(platformMatches(AMD64, { os: "linux", architecture: "amd64", variant: "v2" })).toBe(false);
    expect(platformMatches(AMD64, { os: "linux", architecture: "386" })).toBe(true);
  });
});

describe("chooseManifest", () => {
  it("takes linux/amd64 out of a multi-arch index regardless of order", () => {
    const idx = index(entry(1, { os: "linux", architecture: "arm64", variant: "v8" }), entry(2, { os: "linux", architecture: "386" }), entry(3, AMD64), entry(4, { os: "windows", architecture: "amd64" }));
    expect(chooseManifest(idx, AMD64).digest).toBe(entry(3).digest);
  });

  it("prefers the better platform, then the first in index order", () => {
    const idx = index(entry(1, { os: "linux", architecture: "386" }), entry(2, AMD64), entry(3, AMD64));
    expect(chooseManifest(idx, AMD64).digest).toBe(entry(2).digest);
    expect(chooseManifest(index(entry(1, { os: "linux", architecture: "386" })), AMD64).digest).toBe(entry(1).digest);
    const v = index(entry(1, AMD64), entry(2, { ...AMD64, variant: "v2" }), entry(3, { ...AMD64, variant: "v3" }));
    expect(chooseManifest(v, { ...AMD64, variant: "v2" }).digest).toBe(entry(2).digest);
    expect(chooseManifest(v, AMD64).digest).toBe(entry(1).digest);
  });

  it("skips attestation entries (unknown/unknown) and falls back to an entry without a platform", () => {
    const idx = index(entry(1, { os: "unknown", architecture: "unknown" }), entry(2), entry(3, AMD64));
    expect(chooseManifest(idx, AMD64).digest).toBe(entry(3).digest);
    expect(chooseManifest(index(entry(1, { os: "unknown", architecture: "unknown" }), entry(2)), AMD64).digest).toBe(entry(2).digest);
  });

  it("says Docker's words when nothing runs here", () => {
    const run = () => chooseManifest(index(entry(1, { os: "linux", architecture: "arm64" }), entry(2, { os: "linux", architecture: "s390x" })), AMD64);
    expect(run).toThrow(NotFoundError);
    expect(run).toThrow("no matching manifest for linux/amd64 in the manifest list entries");
    expect(() => chooseManifest(index(), { os: "linux", architecture: "arm", variant: "7" })).toThrow("no matching manifest for linux/arm/v7 in the manifest list entries");
  });
});
