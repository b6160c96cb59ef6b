import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { FailedPreconditionError, NotFoundError, UnavailableError } from "@shoal/domain";
import { BlobVerifier } from "./blob-verifier";
import { MANIFEST_ACCEPT, manifestKind, manifestMediaType } from "./media-types";
import { platformOfHost } from "./platform-of-host";
import { connectionError, describeRegistryErrors, registryError } from "./registry-errors";
import { isPlainHttpHost, registryBaseUrl } from "./transport";

describe("transport: plain HTTP only where Docker allows it", () => {
  it.each([
    ["localhost:5000", "http://localhost:5000"],
    ["localhost", "http://localhost"],
    ["127.0.0.1:5000", "http://127.0.0.1:5000"],
    ["127.8.9.10", "http://127.8.9.10"],
    ["[::1]:5000", "http://[::1]:5000"],
    ["docker.io", "https://registry-1.docker.io"],
    ["registry.example:5000", "https://registry.example:5000"],
    ["10.1.2.3:5000", "https://10.1.2.3:5000"],
    ["128.0.0.1", "https://128.0.0.1"],
  ])("%s → %s", (domain, url) => {
    expect(registryBaseUrl(domain)).toBe(url);
  });

  it("honours insecure registries by host:port, host, or IPv4 CIDR", () => {
    expect(isPlainHttpHost("registry.example:5000", ["registry.example:5000"])).toBe(true);
    expect(isPlainHttpHost("registry.example:5001", ["registry.example:5000"])).toBe(false);
    expect(isPlainHttpHost("registry.example:5001", ["registry.example"])).toBe(true);
    expect(isPlainHttpHost("10.1.2.3:5000", ["10.0.0.0/8"])).toBe(true);
    expect(isPlainHttpHost("11.1.2.3:5000", ["10.0.0.0/8"])).toBe(false);
    expect(isPlainHttpHost("name.example", ["0.0.0.0/0"])).toBe(false);
  });
});

describe("media types", () => {
  it("asks for OCI and Docker indexes and manifests", () => {
    expect(MANIFEST_ACCEPT.split(", ").sort()).toEqual([
      "application/vnd.docker.distribution.manifest.list.v2+json",
      "application/vnd.docker.distribution.manifest.v2+json",
      "application/vnd.oci.image.index.v1+json",
      "application/vnd.oci.image.manifest.v1+json",
    ]);
  });

  it("tells an index from a manifest by mediaType, then Content-Type, then shape", () => {
    const cfg = { mediaType: "x", digest: "sha256:0", size: 1 };
    expect(manifestKind(null, { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [] })).toBe("index");
    expect(manifestKind("application/vnd.docker.distribution.manifest.list.v2+json", { schemaVersion: 2, manifests: [] })).toBe("index");
    expect(manifestKind("application/vnd.oci.image.manifest.v1+json; charset=utf-8", { schemaVersion: 2, config: cfg, layers: [] })).toBe("manifest");
    expect(manifestKind("application/json", { schemaVersion: 2, config: cfg, layers: [] })).toBe("manifest");
    expect(manifestKind("application/json", { schemaVersion: 2, manifests: [] })).toBe("index");
    expect(manifestKind("application/vnd.docker.distribution.manifest.v1+prettyjws", { schemaVersion: 1, fsLayers: [] })).toBeUndefined();
    expect(manifestMediaType("application/json", { schemaVersion: 2, manifests: [] }, "index")).toBe("application/vnd.oci.image.index.v1+json");
    expect(manifestMediaType("application/vnd.docker.distribution.manifest.v2+json", { schemaVersion: 2 }, "manifest")).toBe(
      "application/vnd.docker.distribution.manifest.v2+json",
    );
  });
});

describe("registry errors in Docker's words", () => {
  it("formats the errors body as code: message", () => {
    expect(describeRegistryErrors(404, "Not Found", '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":"x"}]}')).toBe(
      "manifest unknown: manifest unknown",
    );
    expect(describeRegistryErrors(401, "Unauthorized", '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')).toBe(
      "unauthorized: authentication required",
    );
    expect(describeRegistryErrors(502, "Bad Gateway", "<html>")).toBe("unexpected status 502 Bad Gateway");
  });

  it("maps statuses onto the error taxonomy", () => {
    expect(registryError("p: ", 404, "", "")).toBeInstanceOf(NotFoundError);
    expect(registryError("p: ", 401, "", "")).toBeInstanceOf(FailedPreconditionError);
    expect(registryError("p: ", 503, "", "")).toBeInstanceOf(UnavailableError);
    expect(registryError("p: ", 429, "", "")).toBeInstanceOf(UnavailableError);
  });

  it("names the host of a failed lookup or connection", () => {
    const dns = connectionError("GET", "https://nosuch.example/v2/", Object.assign(new TypeError("fetch failed"), { cause: { code: "ENOTFOUND" } }));
    expect(dns).toBeInstanceOf(UnavailableError);
    expect(dns.message).toBe('Get "https://nosuch.example/v2/": dial tcp: lookup nosuch.example: no such host');
    const refused = connectionError("GET", "http://127.0.0.1:5000/v2/", Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } }));
    expect(refused.message).toBe('Get "http://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused');
  });
});

describe("BlobVerifier", () => {
  const data = Buffer.from("hello, layer");
  const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
  const through = (v: BlobVerifier, ...chunks: Buffer[]) => text(Readable.from(chunks).pipe(v));

  it("passes matching bytes through", async () => {
    expect(await through(new BlobVerifier(digest, data.length), data.subarray(0, 3), data.subarray(3))).toBe("hello, layer");
  });

  it("continues a hash that has seen the first bytes", async () => {
    const hash = createHash("sha256").update(data.subarray(0, 5));
    expect(await through(new BlobVerifier(digest, data.length, 5, hash), data.subarray(5))).toBe(", layer");
  });

  it("fails naming the digest on other content, too few or too many bytes", async () => {
    const other = Buffer.from("hello, LAYER");
    await expect(through(new BlobVerifier(digest, data.length), other)).rejects.toThrow(`blob ${digest} failed verification: its content has digest sha256:`);
    await expect(through(new BlobVerifier(digest, data.length), data.subarray(1))).rejects.toThrow(FailedPreconditionError);
    await expect(through(new BlobVerifier(digest, data.length), data, Buffer.from("x"))).rejects.toThrow(`blob ${digest} failed verification: more than`);
  });
});

describe("platformOfHost", () => {
  it("speaks OCI's words for this machine", () => {
    const p = platformOfHost();
    expect(p.os).toBe(process.platform);
    if (process.arch === "x64") expect(p).toEqual({ os: "linux", architecture: "amd64" });
  });
});
