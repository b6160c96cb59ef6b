import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import {
  FailedPreconditionError,
  NotFoundError,
  chooseManifest,
  familiarString,
  isIndexMediaType,
  isShoalError,
  parseImageReference,
  referenceString,
} from "@shoal/domain";
import type { ImageIndex, ImageManifest } from "@shoal/domain";
import type { ContainerdClient, ImageRecord } from "@shoal/containerd";
import type { ImageSummary } from "@shoal/host-protocol";
import { platformOfHost } from "@shoal/registry";

// The images of this host's containerd as Shoal reads them: an image record (a name and the
// digest of an index or manifest) resolved to this platform's manifest and config. Docker's
// image id is the config's digest; several records (tags) may name one image.

/** The snapshotter every image is unpacked into and every container's rootfs comes from. */
export const SNAPSHOTTER = "overlayfs";

/** containerd's garbage-collection labels (see @shoal/containerd image-services.ts). */
export const GC_LABELS = {
  contentRef: (what: string) => `containerd.io/gc.ref.content.${what}`,
  snapshotRef: `containerd.io/gc.ref.snapshot.${SNAPSHOTTER}`,
  root: "containerd.io/gc.root",
  /** On a layer blob: its diff ID (containerd's own convention). */
  uncompressed: "containerd.io/uncompressed",
} as const;

/**
 * The record name of an image without a name (Docker's dangling `<none>:<none>`: loaded
 * untagged, or untagged while a running container uses it): its id, as `sha256-<hex>`.
 */
export function danglingName(imageId: string): string {
  return `sha256-${imageId.replace(/^sha256:/, "")}`;
}

export function isDanglingName(name: string): boolean {
  return /^sha256-[0-9a-f]{64}$/.test(name);
}

/** An OCI image config, the parts Shoal reads. */
export interface ImageConfigBlob {
  created?: string;
  architecture?: string;
  os?: string;
  config?: {
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Env?: string[] | null;
    WorkingDir?: string;
    User?: string;
    StopSignal?: string;
    Labels?: Record<string, string> | null;
  };
  rootfs?: { type?: string; diff_ids?: string[] };
}

/** One image record resolved to this platform. */
export interface LocalImage {
  record: ImageRecord;
  manifest: ImageManifest;
  manifestDigest: string;
  /** The image id. */
  configDigest: string;
  config: ImageConfigBlob;
  /** Chain IDs of the layers, bottom first; the last is the snapshot a container's rootfs is prepared from. */
  chainIds: string[];
}

/** The blob's bytes from the content store. NotFoundError when it is not there. */
export async function readBlob(containerd: ContainerdClient, digest: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of containerd.content.read(digest) as Readable) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)) (the OCI image spec's rule). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diff of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? diff : `sha256:${createHash("sha256").update(`${prev} ${diff}`).digest("hex")}`);
  }
  return out;
}

/** Resolves one record: its index (this platform's entry), manifest and config, from the content store. */
export async function resolveRecord(containerd: ContainerdClient, record: ImageRecord): Promise<LocalImage> {
  let manifestDigest = record.target.digest;
  if (isIndexMediaType(record.target.mediaType)) {
    const index = JSON.parse((await readBlob(containerd, manifestDigest)).toString("utf8")) as ImageIndex;
    manifestDigest = chooseManifest(index, platformOfHost()).digest;
  }
  const manifest = JSON.parse((await readBlob(containerd, manifestDigest)).toString("utf8")) as ImageManifest;
  const config = JSON.parse((await readBlob(containerd, manifest.config.digest)).toString("utf8")) as ImageConfigBlob;
  return { record, manifest, manifestDigest, configDigest: manifest.config.digest, config, chainIds: chainIds(config.rootfs?.diff_ids ?? []) };
}

/** Every record that resolves here, grouped by image id. Records whose content is gone are skipped. */
export async function localImages(containerd: ContainerdClient): Promise<Map<string, LocalImage[]>> {
  const byId = new Map<string, LocalImage[]>();
  for (const record of await containerd.images.list()) {
    let image: LocalImage;
    try {
      image = await resolveRecord(containerd, record);
    } catch (err) {
      if (isShoalError(err) && err.code === "NOT_FOUND") continue;
      throw err;
    }
    byId.set(image.configDigest, [...(byId.get(image.configDigest) ?? []), image]);
  }
  return byId;
}

/** Re-reads which images this host holds into `ctx.imageIds` (what heartbeats tell the scheduler). Never rejects. */
export async function refreshImageIds(ctx: { containerd: ContainerdClient; imageIds: Set<string>; log: { warn(o: object, m: string): void } }): Promise<void> {
  try {
    const ids = [...(await localImages(ctx.containerd)).keys()];
    ctx.imageIds.clear();
    for (const id of ids) ctx.imageIds.add(id);
  } catch (err) {
    ctx.log.warn({ err }, "could not list this host's images");
  }
}

/** `sha256:<hex>`, `<hex>` or a prefix of at least 12 hex digits. */
export function isImageIdLike(s: string): boolean {
  return /^(sha256:)?[0-9a-f]{12,64}$/.test(s);
}

/**
 * The image `name` names here: a reference (any form; looked up canonical), an id, or an
 * id prefix. NotFoundError "No such image: <name>".
 */
export async function findImage(containerd: ContainerdClient, name: string): Promise<LocalImage[]> {
  if (isImageIdLike(name)) {
    const hex = name.replace(/^sha256:/, "");
    const hits = [...(await localImages(containerd)).entries()].filter(([id]) => id.slice("sha256:".length).startsWith(hex));
    if (hits.length > 1) throw new FailedPreconditionError(`ambiguous image id prefix ${name}`);
    if (hits[0] !== undefined) return hits[0][1];
  }
  const ref = parseImageReference(name);
  try {
    return [await resolveRecord(containerd, await containerd.images.get(referenceString(ref)))];
  } catch (err) {
    if (isShoalError(err) && err.code === "NOT_FOUND") throw new NotFoundError(`No such image: ${familiarString(ref)}`, { cause: err });
    throw err;
  }
}

/** What the host answers about one image (all its records). */
export function summaryOf(records: readonly LocalImage[]): ImageSummary {
  const first = records[0]!;
  const c = first.config.config ?? {};
  const names: string[] = [];
  const repoDigests = new Set<string>();
  for (const r of records) {
    if (isDanglingName(r.record.name)) continue;
    const ref = parseImageReference(r.record.name);
    if (ref.digest === undefined) names.push(r.record.name);
    repoDigests.add(`${ref.domain}/${ref.path}@${r.record.target.digest}`);
  }
  return {
    id: first.configDigest,
    names: names.sort(),
    repoDigests: [...repoDigests].sort(),
    sizeBytes: first.manifest.layers.reduce((sum, l) => sum + l.size, 0),
    ...(first.config.created !== undefined ? { created: first.config.created } : {}),
    os: first.config.os ?? "",
    architecture: first.config.architecture ?? "",
    config: {
      ...(c.Entrypoint ? { entrypoint: c.Entrypoint } : {}),
      ...(c.Cmd ? { cmd: c.Cmd } : {}),
      ...(c.Env ? { env: c.Env } : {}),
      ...(c.WorkingDir ? { workingDir: c.WorkingDir } : {}),
      ...(c.User ? { user: c.User } : {}),
      ...(c.StopSignal ? { stopSignal: c.StopSignal } : {}),
      ...(c.Labels ? { labels: c.Labels } : {}),
    },
    diffIds: first.config.rootfs?.diff_ids ?? [],
  };
}
