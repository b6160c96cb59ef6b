import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailedPreconditionError, NotFoundError, UnavailableError, parseImageReference } from "@shoal/domain";
import type { Platform } from "@shoal/domain";
import { buildMultiArchTestIndex, buildTestImage, pushTestImage, pushTestIndex, startRegistry } from "@shoal/testing";
import type { TestImage, TestIndex, TestRegistry } from "@shoal/testing";
import { createRegistryClient } from "./registry-client";

const AMD64: Platform = { os: "linux", architecture: "amd64" };
const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe("against a real docker-registry without auth", () => {
  let registry: TestRegistry;
  let image: TestImage;
  let ociImage: TestImage;
  let multi: TestIndex;

  beforeAll(async () => {
    registry = await startRegistry();
    [image, ociImage, multi] = await Promise.all([buildTestImage(), buildTestImage({ format: "oci" }), buildMultiArchTestIndex()]);
    await pushTestImage(registry, "shoal/test", image, { tag: "v1" });
    await pushTestImage(registry, "shoal/oci", ociImage);
    await pushTestIndex(registry, "shoal/multi", multi);
    await pushTestImage(registry, "shoal/tamper", await buildTestImage({ extraLayers: [[{ type: "file", path: "tamper", content: "x".repeat(5000) }]] }));
  });
  afterAll(() => registry?.stop());

  it("resolves a tag to the manifest pushed, its digest and config, and streams every layer verified", async () => {
    const client = createRegistryClient();
    const ref = parseImageReference(`${registry.host}/shoal/test:v1`);
    const resolved = await client.resolve(ref, { platform: AMD64 });
    expect(resolved.digest).toBe(image.manifestDescriptor.digest);
    expect(resolved.index).toBeUndefined();
    expect(resolved.manifest.descriptor).toEqual(image.manifestDescriptor);
    expect(Buffer.from(resolved.manifest.raw).equals(image.manifest)).toBe(true);
    expect(resolved.config).toEqual(image.configDescriptor);

    const config = await buffer(await client.fetchBlob(ref, resolved.config));
    const diffIds = (JSON.parse(config.toString()) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
    expect(resolved.manifest.parsed.layers).toHaveLength(3);
    for (const [i, layer] of resolved.manifest.parsed.layers.entries()) {
      const blob = await buffer(await client.fetchBlob(ref, layer));
      expect(sha256(blob)).toBe(layer.digest);
      // The diff ID is the digest of the uncompressed tar.
      expect(sha256(gunzipSync(blob))).toBe(diffIds[i]);
    }
  });

  it("resolves by digest, and name:tag@digest by the digest", async () => {
    const client = createRegistryClient();
    const byDigest = await client.resolve(parseImageReference(`${registry.host}/shoal/test@${image.manifestDescriptor.digest}`), { platform: AMD64 });
    expect(byDigest.digest).toBe(image.manifestDescriptor.digest);
    const both = await client.resolve(parseImageReference(`${registry.host}/shoal/test:nope@${image.manifestDescriptor.digest}`), { platform: AMD64 });
    expect(both.config.digest).toBe(image.configDescriptor.digest);
  });

  it("reads OCI media types as well as Docker's", async () => {
    const resolved = await createRegistryClient().resolve(parseImageReference(`${registry.host}/shoal/oci`), { platform: AMD64 });
    expect(resolved.manifest.descriptor.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(resolved.config.digest).toBe(ociImage.configDescriptor.digest);
  });

  it("picks the platform's manifest out of a manifest list; the top digest is the list's", async () => {
    const client = createRegistryClient();
    const ref = parseImageReference(`${registry.host}/shoal/multi`);
    const amd64 = await client.resolve(ref, { platform: AMD64 });
    expect(amd64.digest).toBe(multi.indexDescriptor.digest);
    expect(amd64.index?.descriptor.mediaType).toBe("application/vnd.docker.distribution.manifest.list.v2+json");
    const amd64Image = multi.images.find((i) => i.platform.architecture === "amd64");
    expect(amd64.manifest.descriptor.digest).toBe(amd64Image?.manifestDescriptor.digest);
    expect(amd64.manifest.descriptor.platform).toEqual(AMD64);
    expect(amd64.config.digest).toBe(amd64Image?.configDescriptor.digest);

    const arm64 = await client.resolve(ref, { platform: { os: "linux", architecture: "arm64" } });
    expect(arm64.manifest.descriptor.digest).toBe(multi.images.find((i) => i.platform.architecture === "arm64")?.manifestDescriptor.digest);

    const none = client.resolve(ref, { platform: { os: "linux", architecture: "s390x" } });
    await expect(none).rejects.toThrow(NotFoundError);
    await expect(none).rejects.toThrow("no matching manifest for linux/s390x in the manifest list entries");
  });

  it("a missing tag or repository is NotFoundError in Docker's words", async () => {
    const client = createRegistryClient();
    const missingTag = client.resolve(parseImageReference(`${registry.host}/shoal/test:nope`), { platform: AMD64 });
    await expect(missingTag).rejects.toThrow(NotFoundError);
    await expect(missingTag).rejects.toThrow(`manifest for ${registry.host}/shoal/test:nope not found: manifest unknown: manifest unknown`);
    const missingRepo = client.resolve(parseImageReference(`${registry.host}/shoal/none`), { platform: AMD64 });
    await expect(missingRepo).rejects.toThrow(NotFoundError);
    await expect(missingRepo).rejects.toThrow(`manifest for ${registry.host}/shoal/none:latest not found: `);
    const missingBlob = client.fetchBlob(parseImageReference(`${registry.host}/shoal/test`), { mediaType: "x", digest: `sha256:${"0".repeat(64)}`, size: 1 });
    await expect(missingBlob).rejects.toThrow(NotFoundError);
  });

  it("resumes a blob from an offset with a Range request and still verifies the whole", async () => {
    const client = createRegistryClient();
    const ref = parseImageReference(`${registry.host}/shoal/test:v1`);
    const layer = image.layers[0];
    if (layer === undefined) throw new Error("no layer");
    const offset = 1000;
    const rest = await buffer(await client.fetchBlob(ref, layer.descriptor, { offset, prefix: Readable.from([layer.blob.subarray(0, offset)]) }));
    expect(Buffer.concat([layer.blob.subarray(0, offset), rest]).equals(layer.blob)).toBe(true);

    // A wrong prefix makes the end fail verification even though the registry's bytes are right.
    const wrongPrefix = Buffer.from(layer.blob.subarray(0, offset));
    wrongPrefix[0] = (wrongPrefix[0] ?? 0) ^ 0xff;
    const bad = await client.fetchBlob(ref, layer.descriptor, { offset, prefix: Readable.from([wrongPrefix]) });
    await expect(buffer(bad)).rejects.toThrow(`blob ${layer.descriptor.digest} failed verification`);
  });

  it("a blob tampered with in the registry's storage fails digest verification, naming the digest", async () => {
    const client = createRegistryClient();
    const ref = parseImageReference(`${registry.host}/shoal/tamper`);
    const resolved = await client.resolve(ref, { platform: AMD64 });
    const layer = resolved.manifest.parsed.layers.at(-1);
    if (layer === undefined) throw new Error("no layer");
    const original = await buffer(await client.fetchBlob(ref, layer));

    const sameSize = Buffer.from(original);
    sameSize[sameSize.length - 20] = (sameSize[sameSize.length - 20] ?? 0) ^ 0xff;
    await writeFile(registry.blobDataPath(layer.digest), sameSize);
    const err = await buffer(await client.fetchBlob(ref, layer)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toMatch(new RegExp(`^blob ${layer.digest} failed verification: its content has digest sha256:[0-9a-f]{64}$`));

    await writeFile(registry.blobDataPath(layer.digest), original.subarray(0, original.length - 7));
    await expect(buffer(await client.fetchBlob(ref, layer))).rejects.toThrow(`blob ${layer.digest} failed verification`);

    await writeFile(registry.blobDataPath(layer.digest), original);
    expect(sha256(await buffer(await client.fetchBlob(ref, layer)))).toBe(layer.digest);
  });

  it("an unknown host or a closed port is UnavailableError naming it", async () => {
    const client = createRegistryClient({ insecureRegistries: ["nosuch.example"] });
    const dns = client.resolve(parseImageReference("nosuch.example/x"), { platform: AMD64 });
    await expect(dns).rejects.toThrow(UnavailableError);
    await expect(dns).rejects.toThrow(/^Get "http:\/\/nosuch\.example\/v2\/": dial tcp: lookup nosuch\.example/);

    const port = await closedPort();
    const refused = client.resolve(parseImageReference(`127.0.0.1:${port}/x`), { platform: AMD64 });
    await expect(refused).rejects.toThrow(`Get "http://127.0.0.1:${port}/v2/": dial tcp 127.0.0.1:${port}: connect: connection refused`);
  });
});

describe("against a real docker-registry with htpasswd (Basic) auth", () => {
  const auth = { username: "shoal", password: "s3cret pass" };
  let registry: TestRegistry;
  let image: TestImage;

  beforeAll(async () => {
    registry = await startRegistry({ auth });
    image = await buildTestImage();
    await pushTestImage(registry, "private/app", image);
  });
  afterAll(() => registry?.stop());

  it("answers the Basic challenge with the host's credentials and pulls", async () => {
    const client = createRegistryClient({ credentials: { [registry.host]: auth } });
    const ref = parseImageReference(`${registry.host}/private/app`);
    const resolved = await client.resolve(ref, { platform: AMD64 });
    expect(resolved.digest).toBe(image.manifestDescriptor.digest);
    const layer = resolved.manifest.parsed.layers[1];
    if (layer === undefined) throw new Error("no layer");
    expect(sha256(await buffer(await client.fetchBlob(ref, layer)))).toBe(layer.digest);
  });

  it("without credentials or with a wrong password: unauthorized: authentication required", async () => {
    const ref = parseImageReference(`${registry.host}/private/app`);
    for (const client of [
      createRegistryClient(),
      createRegistryClient({ credentials: { [registry.host]: { username: auth.username, password: "wrong" } } }),
      // Credentials for another host are not sent here.
      createRegistryClient({ credentials: { "127.0.0.1:1": auth } }),
    ]) {
      const pull = client.resolve(ref, { platform: AMD64 });
      await expect(pull).rejects.toThrow(FailedPreconditionError);
      await expect(pull).rejects.toThrow(`Get "${registry.url}/v2/private/app/manifests/latest": unauthorized: authentication required`);
    }
  });
});

describe("against a real docker-registry with token (Bearer) auth", () => {
  const auth = { username: "shoal", password: "t0ken pass" };
  let registry: TestRegistry;
  let image: TestImage;

  beforeAll(async () => {
    registry = await startRegistry({ auth, authScheme: "bearer" });
    image = await buildTestImage();
    await pushTestImage(registry, "private/tok", image);
  });
  afterAll(() => registry?.stop());

  it("fetches a token for repository:<path>:pull with the credentials, caches it, and pulls", async () => {
    const client = createRegistryClient({ credentials: { [registry.host]: auth } });
    const ref = parseImageReference(`${registry.host}/private/tok`);
    const before = registry.tokenRequests?.length ?? 0;
    const resolved = await client.resolve(ref, { platform: AMD64 });
    expect(resolved.digest).toBe(image.manifestDescriptor.digest);
    for (const layer of resolved.manifest.parsed.layers) expect(sha256(await buffer(await client.fetchBlob(ref, layer)))).toBe(layer.digest);
    // One token for the manifest and all the blobs of this repository.
    expect(registry.tokenRequests?.slice(before)).toEqual([{ scope: "repository:private/tok:pull", user: "shoal", granted: true }]);
  });

  it("a wrong password is refused by the token server; none gets a token that grants nothing", async () => {
    const ref = parseImageReference(`${registry.host}/private/tok`);
    const wrong = createRegistryClient({ credentials: { [registry.host]: { username: "shoal", password: "nope" } } }).resolve(ref, { platform: AMD64 });
    await expect(wrong).rejects.toThrow(FailedPreconditionError);
    await expect(wrong).rejects.toThrow(/^Get "http:\/\/127\.0\.0\.1:\d+\/token\?service=shoal-test-registry&scope=repository%3Aprivate%2Ftok%3Apull": unauthorized: incorrect username or password$/);
    const anonymous = createRegistryClient().resolve(ref, { platform: AMD64 });
    await expect(anonymous).rejects.toThrow(FailedPreconditionError);
    await expect(anonymous).rejects.toThrow(`Get "${registry.url}/v2/private/tok/manifests/latest": unauthorized: authentication required`);
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}
