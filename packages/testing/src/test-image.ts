import { createHash, randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import {
  MEDIA_TYPE_DOCKER_CONFIG,
  MEDIA_TYPE_DOCKER_LAYER_GZIP,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  MEDIA_TYPE_OCI_CONFIG,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_LAYER_GZIP,
  MEDIA_TYPE_OCI_MANIFEST,
} from "@shoal/domain";
import type { Descriptor, Platform } from "@shoal/domain";
import { ensureBusyboxRootfs } from "./busybox-rootfs";
import { tarBuffer, tarEntriesOfDirectory } from "./tar-writer";
import type { TarEntry } from "./tar-writer";

/** Docker schema2 (`docker push`'s) or OCI media types for the manifest, config and layers. */
export type TestImageFormat = "docker" | "oci";

/** One layer as built: the uncompressed tar and its gzip, with both digests. */
export interface TestLayer {
  /** The uncompressed tar: what `docker save` stores and what is unpacked. */
  readonly tar: Buffer;
  /** sha256 of `tar`, as listed in the config's `rootfs.diff_ids`. */
  readonly diffId: string;
  /** The gzip'd tar, the blob a registry stores. */
  readonly blob: Buffer;
  /** The manifest's descriptor of `blob`. */
  readonly descriptor: Descriptor;
}

/** The image config fields a test image sets (Docker's capitalised names). */
export interface TestImageRunConfig {
  readonly Entrypoint?: string[];
  readonly Cmd?: string[];
  readonly Env?: string[];
  readonly WorkingDir?: string;
  readonly User?: string;
  readonly StopSignal?: string;
  readonly Labels?: Record<string, string>;
  readonly ExposedPorts?: Record<string, object>;
}

/** A complete image: layers, config and manifest, with every digest computed. */
export interface TestImage {
  readonly format: TestImageFormat;
  readonly platform: Platform;
  readonly layers: readonly TestLayer[];
  /** The config document and its bytes; `configDescriptor.digest` is the image id. */
  readonly config: Record<string, unknown>;
  readonly configBlob: Buffer;
  readonly configDescriptor: Descriptor;
  /** The manifest's bytes; `manifestDescriptor.digest` is what a tag pointing at it resolves to. */
  readonly manifest: Buffer;
  readonly manifestDescriptor: Descriptor;
  /**
   * What the unpacked root filesystem must show (for the default layers): files with their
   * content, and paths that a later layer's whiteout or opaque directory removed.
   */
  readonly expected: { readonly files: Readonly<Record<string, string>>; readonly absent: readonly string[] };
}

/** An OCI index or Docker manifest list over several images, one per platform. */
export interface TestIndex {
  readonly format: TestImageFormat;
  readonly images: readonly TestImage[];
  readonly index: Buffer;
  readonly indexDescriptor: Descriptor;
}

export interface BuildTestImageOptions {
  /** Default `docker` (what `docker push` writes). */
  readonly format?: TestImageFormat;
  /** Default linux/amd64. Only recorded: the busybox binary is this machine's. */
  readonly platform?: Platform;
  /** Replaces fields of the default run config (see DEFAULT_TEST_IMAGE_CONFIG). */
  readonly config?: TestImageRunConfig;
  /** Layers added on top of the default three. */
  readonly extraLayers?: readonly (readonly TarEntry[])[];
  /** Replaces the default layers on top of busybox (e.g. for a large image); extraLayers still follow. */
  readonly layersOnBusybox?: readonly (readonly TarEntry[])[];
  /** gzip level of the layer blobs; default 6. */
  readonly gzipLevel?: number;
}

/** The run config of the default test image. */
export const DEFAULT_TEST_IMAGE_CONFIG: Required<Pick<TestImageRunConfig, "Entrypoint" | "Cmd" | "Env" | "WorkingDir" | "User" | "StopSignal">> = {
  Entrypoint: ["/bin/sh", "-c"],
  Cmd: ["cat /etc/motd"],
  Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SHOAL_TEST_IMAGE=1"],
  WorkingDir: "/app",
  User: "1000:1000",
  StopSignal: "SIGUSR1",
};

const MOTD = "hello from a Shoal test image\n";

/**
 * Layer 2 adds files (and `/app`, owned by 1000:1000, the image's WorkingDir and User);
 * layer 3 changes one, deletes one with a whiteout `.wh.<name>`, and makes `/opq` opaque
 * (`.wh..wh..opq`) so that layer 2's files there vanish and only its own remain.
 */
function defaultLayers(): TarEntry[][] {
  return [
    [
      { type: "dir", path: "etc" },
      { type: "file", path: "etc/motd", content: MOTD },
      { type: "dir", path: "app", uid: 1000, gid: 1000 },
      { type: "file", path: "app/run.sh", content: "#!/bin/sh\necho app\n", mode: 0o755, uid: 1000, gid: 1000 },
      { type: "dir", path: "data" },
      { type: "file", path: "data/keep.txt", content: "kept\n" },
      { type: "file", path: "data/change.txt", content: "v1\n" },
      { type: "file", path: "data/delete.txt", content: "to be deleted\n" },
      { type: "dir", path: "opq" },
      { type: "file", path: "opq/old-1", content: "old 1\n" },
      { type: "dir", path: "opq/sub" },
      { type: "file", path: "opq/sub/old-2", content: "old 2\n" },
    ],
    [
      { type: "dir", path: "data" },
      { type: "file", path: "data/change.txt", content: "v2\n" },
      { type: "file", path: "data/.wh.delete.txt", content: "" },
      { type: "dir", path: "opq" },
      { type: "file", path: "opq/.wh..wh..opq", content: "" },
      { type: "file", path: "opq/new", content: "new\n" },
    ],
  ];
}

const DEFAULT_EXPECTED = {
  files: {
    "etc/motd": MOTD,
    "app/run.sh": "#!/bin/sh\necho app\n",
    "data/keep.txt": "kept\n",
    "data/change.txt": "v2\n",
    "opq/new": "new\n",
  },
  absent: ["data/delete.txt", "data/.wh.delete.txt", "opq/old-1", "opq/sub", "opq/.wh..wh..opq"],
};

/**
 * Builds an image from the busybox rootfs (ensureBusyboxRootfs) plus, by default, two
 * layers that add, change and delete files and make a directory opaque, with a config that
 * sets Entrypoint, Cmd, Env, WorkingDir, User and StopSignal. Layers are deterministic tars
 * (fixed mtimes, owners), gzip'd; diff IDs are the sha256 of the uncompressed tars. The
 * same options give the same digests on the same machine (the busybox binary is the host's).
 */
export async function buildTestImage(opts: BuildTestImageOptions = {}): Promise<TestImage> {
  const format = opts.format ?? "docker";
  const platform = opts.platform ?? { os: "linux", architecture: "amd64" };
  const level = opts.gzipLevel ?? 6;
  const base = await tarEntriesOfDirectory(await ensureBusyboxRootfs());
  const layerEntries = [base, ...(opts.layersOnBusybox ?? defaultLayers()), ...(opts.extraLayers ?? [])];
  const layers = layerEntries.map((entries) => makeLayer(tarBuffer(entries), format, level));
  return assembleImage(format, platform, layers, { ...DEFAULT_TEST_IMAGE_CONFIG, ...opts.config }, opts.layersOnBusybox === undefined ? DEFAULT_EXPECTED : { files: {}, absent: [] });
}

/**
 * A large image for benchmarks: busybox plus `layers` layers (default 5) of random,
 * incompressible data adding up to `totalBytes` (default 100 MiB), one file
 * `/big/layer-<n>.bin` each. gzip level 1: compressing random data gains nothing.
 */
export async function buildLargeTestImage(opts: { totalBytes?: number; layers?: number; format?: TestImageFormat } = {}): Promise<TestImage> {
  const total = opts.totalBytes ?? 100 * 1024 * 1024;
  const count = opts.layers ?? 5;
  const per = Math.ceil(total / count);
  const layersOnBusybox: TarEntry[][] = [];
  for (let i = 0; i < count; i++) {
    layersOnBusybox.push([
      { type: "dir", path: "big" },
      { type: "file", path: `big/layer-${i}.bin`, content: randomBytes(per) },
    ]);
  }
  return buildTestImage({ ...(opts.format !== undefined ? { format: opts.format } : {}), layersOnBusybox, gzipLevel: 1 });
}

/**
 * A multi-platform image: the default test image for linux/amd64 and one for linux/arm64/v8
 * whose config differs (Env `SHOAL_TEST_ARCH=arm64`, an extra layer with `/arch`), under an
 * OCI index (format `oci`) or a Docker manifest list (format `docker`, the default).
 * amd64 is listed second, so a client that takes the first entry picks the wrong one.
 */
export async function buildMultiArchTestIndex(opts: { format?: TestImageFormat } = {}): Promise<TestIndex> {
  const format = opts.format ?? "docker";
  const amd64 = await buildTestImage({ format, config: { Env: [...DEFAULT_TEST_IMAGE_CONFIG.Env, "SHOAL_TEST_ARCH=amd64"] } });
  const arm64 = await buildTestImage({
    format,
    platform: { os: "linux", architecture: "arm64", variant: "v8" },
    config: { Env: [...DEFAULT_TEST_IMAGE_CONFIG.Env, "SHOAL_TEST_ARCH=arm64"] },
    extraLayers: [[{ type: "file", path: "arch", content: "arm64\n" }]],
  });
  const images = [arm64, amd64];
  const mediaType = format === "oci" ? MEDIA_TYPE_OCI_INDEX : MEDIA_TYPE_DOCKER_MANIFEST_LIST;
  const doc = {
    schemaVersion: 2,
    mediaType,
    manifests: images.map((img) => ({ ...img.manifestDescriptor, platform: img.platform })),
  };
  const index = Buffer.from(JSON.stringify(doc));
  return { format, images, index, indexDescriptor: { mediaType, digest: sha256(index), size: index.length } };
}

function makeLayer(tar: Buffer, format: TestImageFormat, level: number): TestLayer {
  const blob = gzipSync(tar, { level });
  return {
    tar,
    diffId: sha256(tar),
    blob,
    descriptor: { mediaType: format === "oci" ? MEDIA_TYPE_OCI_LAYER_GZIP : MEDIA_TYPE_DOCKER_LAYER_GZIP, digest: sha256(blob), size: blob.length },
  };
}

function assembleImage(
  format: TestImageFormat,
  platform: Platform,
  layers: TestLayer[],
  runConfig: TestImageRunConfig,
  expected: TestImage["expected"],
): TestImage {
  const created = new Date(1_704_067_200_000).toISOString();
  const config: Record<string, unknown> = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
    created,
    config: runConfig,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created, created_by: `shoal test layer ${i}` })),
  };
  const configBlob = Buffer.from(JSON.stringify(config));
  const configDescriptor: Descriptor = {
    mediaType: format === "oci" ? MEDIA_TYPE_OCI_CONFIG : MEDIA_TYPE_DOCKER_CONFIG,
    digest: sha256(configBlob),
    size: configBlob.length,
  };
  const manifestMediaType = format === "oci" ? MEDIA_TYPE_OCI_MANIFEST : MEDIA_TYPE_DOCKER_MANIFEST;
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: manifestMediaType, config: configDescriptor, layers: layers.map((l) => l.descriptor) }),
  );
  return {
    format,
    platform,
    layers,
    config,
    configBlob,
    configDescriptor,
    manifest,
    manifestDescriptor: { mediaType: manifestMediaType, digest: sha256(manifest), size: manifest.length },
    expected,
  };
}

function sha256(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}
