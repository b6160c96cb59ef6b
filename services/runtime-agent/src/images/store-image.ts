import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import pLimit from "p-limit";
import { FailedPreconditionError, isShoalError } from "@shoal/domain";
import type { Descriptor } from "@shoal/domain";
import type { PullProgressLine } from "@shoal/host-protocol";
import type { AgentContext } from "../agent-context";
import { GC_LABELS, SNAPSHOTTER, chainIds, danglingName } from "./local-images";
import type { ImageConfigBlob } from "./local-images";

// Storing an image in this host's containerd, wherever its bytes come from (a registry for
// a pull, an archive for a load): the layer blobs go into the content store and are
// unpacked into snapshots named by chain ID, all under one lease; then the config, manifest
// and index are written with the labels that let containerd's garbage collector keep
// everything from the image record; the records are made; the lease goes. Layers are
// fetched three at a time (Docker's default) and each is unpacked as soon as it and the
// ones below it are there. A store killed midway leaves partial writes and an expiring
// lease: the next store resumes each write from what containerd holds, and containerd
// frees the rest once the lease expires.

/** Layers fetched at once (Docker's `max-concurrent-downloads`). */
const CONCURRENT_DOWNLOADS = 3;
/** A store's lease outlives a killed agent by this long, then containerd collects what it held. */
const LEASE_TTL_MS = 60 * 60 * 1000;
/** Progress lines for one layer's bytes are sent at most this often. */
const PROGRESS_EVERY_MS = 100;

/** The bytes of one blob, from its start. */
export type BlobBytes = () => Promise<AsyncIterable<Uint8Array>>;

export interface ImageToStore {
  /** Canonical references to record for it (none: stored, findable by id only). */
  names: string[];
  /** The index, when the image came as one (its chosen manifest is `manifest`). */
  index?: { desc: Descriptor; bytes: Uint8Array };
  manifest: { desc: Descriptor; bytes: Uint8Array; layers: readonly Descriptor[] };
  config: { desc: Descriptor; bytes: Uint8Array };
  /** The bytes of layer `i` (`manifest.layers[i]`). */
  layer(i: number): BlobBytes;
  /** What the store is for, on the lease (`shoal.pull` or `shoal.load`). */
  why: string;
}

/**
 * Stores `image`, reporting Docker's progress lines through `progress`. FailedPreconditionError
 * when the config and the manifest disagree on the layers or a layer unpacks to another diff
 * ID than the config says; the content store refuses a blob whose bytes are not its digest.
 */
export async function storeImage(ctx: AgentContext, image: ImageToStore, progress: (line: PullProgressLine) => void): Promise<void> {
  const parsed = JSON.parse(Buffer.from(image.config.bytes).toString("utf8")) as ImageConfigBlob;
  const diffIds = parsed.rootfs?.diff_ids ?? [];
  const layers = image.manifest.layers;
  if (diffIds.length !== layers.length) {
    throw new FailedPreconditionError(`image ${image.config.desc.digest}: its config lists ${diffIds.length} layers, its manifest ${layers.length}`);
  }
  const chains = chainIds(diffIds);
  const lease = await ctx.containerd.leases.create({ labels: { [image.why]: image.names[0] ?? image.config.desc.digest }, expiresAt: new Date(Date.now() + LEASE_TTL_MS) });
  try {
    await unpackLayers(ctx, image, diffIds, chains, lease.id, progress);
    // Labels first (each blob names what it keeps alive), the image records last: from then
    // on the records are the roots and the lease can go.
    const write = async (desc: Descriptor, bytes: Uint8Array, labels: Record<string, string>) => {
      const r = await ctx.containerd.content.write(`shoal-${desc.digest}`, desc, () => Readable.from([Buffer.from(bytes)]), { labels, lease: lease.id });
      // A blob already there keeps the labels of its own write: add these.
      if (r.outcome === "already-present" && Object.keys(labels).length > 0) await ctx.containerd.content.update(desc.digest, labels);
    };
    await write(image.config.desc, image.config.bytes, chains.length > 0 ? { [GC_LABELS.snapshotRef]: chains[chains.length - 1]! } : {});
    await write(image.manifest.desc, image.manifest.bytes, {
      [GC_LABELS.contentRef("config")]: image.config.desc.digest,
      ...Object.fromEntries(layers.map((l, i) => [GC_LABELS.contentRef(`l.${i}`), l.digest])),
    });
    if (image.index !== undefined) await write(image.index.desc, image.index.bytes, { [GC_LABELS.contentRef("m.0")]: image.manifest.desc.digest });
    const top = image.index?.desc ?? image.manifest.desc;
    const target = { mediaType: top.mediaType, digest: top.digest, size: top.size };
    for (const name of image.names) await ctx.containerd.images.put({ name, target });
    if (image.names.length === 0) {
      // Untagged (a load without a name): the record is named by the image's digest, as containerd names such images.
      await ctx.containerd.images.put({ name: danglingName(image.config.desc.digest), target });
    }
  } finally {
    await ctx.containerd.leases.delete(lease.id).catch((err: unknown) => ctx.log.warn({ err, lease: lease.id }, "could not delete an image store's lease; it expires"));
  }
}

/**
 * Writes the missing layer blobs and unpacks each one whose snapshot is missing, bottom
 * first, as soon as it and those below are there. Layers already unpacked are "Already
 * exists", as Docker says.
 */
async function unpackLayers(
  ctx: AgentContext,
  image: ImageToStore,
  diffIds: readonly string[],
  chains: readonly string[],
  lease: string,
  progress: (line: PullProgressLine) => void,
): Promise<void> {
  const layers = image.manifest.layers;
  const snapshots = ctx.containerd.snapshots(SNAPSHOTTER);
  const unpacked = await Promise.all(chains.map((c) => snapshots.stat(c).then(() => true, () => false)));
  // The snapshots of a chain exist bottom-up: once one is missing, every one above it is too.
  const firstMissing = unpacked.indexOf(false);
  const todo = firstMissing < 0 ? [] : layers.slice(firstMissing).map((l, k) => ({ layer: l, i: firstMissing + k }));
  for (const [i, l] of layers.entries()) {
    if (firstMissing < 0 || i < firstMissing) progress({ id: shortDigest(l.digest), status: "Already exists" });
  }
  for (const { layer } of todo) progress({ id: shortDigest(layer.digest), status: "Pulling fs layer" });
  // A layer unpacked already (from another blob of the same diff ID: a loaded image, another
  // compression) still needs its own blob, which the manifest names and `save` writes out.
  const present = await Promise.all(layers.map((l) => ctx.containerd.content.info(l.digest).then(() => true, () => false)));
  const blobsOnly = layers.flatMap((layer, i) => (!present[i] && (firstMissing < 0 || i < firstMissing) ? [{ layer, i }] : []));

  const slots = pLimit(CONCURRENT_DOWNLOADS);
  const quietly = blobsOnly.map(({ layer, i }) => slots(() => writeLayer(ctx, layer, diffIds[i]!, image.layer(i), lease, () => undefined)));
  const fetched = todo.map(({ layer, i }) =>
    slots(async () => {
      await writeLayer(ctx, layer, diffIds[i]!, image.layer(i), lease, progress);
      progress({ id: shortDigest(layer.digest), status: "Download complete" });
    }),
  );
  // Every fetch is awaited (or its failure caught) before returning, so none outlives a failed store.
  const settled = Promise.allSettled([...quietly, ...fetched]);
  try {
    for (const [k, { layer, i }] of todo.entries()) {
      await fetched[k];
      progress({ id: shortDigest(layer.digest), status: "Extracting", current: 0, total: layer.size });
      await applyLayer(ctx, layer, diffIds[i]!, chains[i]!, i === 0 ? "" : chains[i - 1]!, lease);
      progress({ id: shortDigest(layer.digest), status: "Pull complete" });
    }
    await Promise.all(quietly);
  } finally {
    await settled;
  }
}

/** Writes one layer blob into the content store, resumed from containerd's offset after an interrupted store. */
async function writeLayer(
  ctx: AgentContext,
  layer: Descriptor,
  diffId: string,
  bytes: BlobBytes,
  lease: string,
  progress: (line: PullProgressLine) => void,
): Promise<void> {
  const id = shortDigest(layer.digest);
  let sentAt = 0;
  const source = async function* (offset: number): AsyncGenerator<Uint8Array> {
    // containerd verifies the whole blob at commit; a resumed write skips what it holds.
    let seen = 0;
    for await (const chunk of await bytes()) {
      const start = seen;
      seen += chunk.length;
      if (seen <= offset) continue;
      const now = Date.now();
      if (now - sentAt >= PROGRESS_EVERY_MS) {
        sentAt = now;
        progress({ id, status: "Downloading", current: seen, total: layer.size });
      }
      yield start >= offset ? chunk : chunk.subarray(offset - start);
    }
  };
  await ctx.containerd.content.write(`shoal-${layer.digest}`, layer, source, { labels: { [GC_LABELS.uncompressed]: diffId }, lease });
}

/** Unpacks one layer onto its parent's snapshot and commits it as `chain`; a concurrent unpack of the same chain is fine. */
async function applyLayer(ctx: AgentContext, layer: Descriptor, diffId: string, chain: string, parent: string, lease: string): Promise<void> {
  const snapshots = ctx.containerd.snapshots(SNAPSHOTTER);
  const key = `shoal-extract-${randomUUID()} ${chain}`;
  const mounts = await snapshots.prepare(key, parent, { lease });
  try {
    const applied = await ctx.containerd.diff.apply(layer, mounts, { lease });
    if (applied.digest !== diffId) {
      throw new FailedPreconditionError(`layer ${layer.digest} unpacks to ${applied.digest}, the image config says ${diffId}`);
    }
    await snapshots.commit(chain, key, { lease });
  } catch (err) {
    await snapshots.remove(key).catch(() => undefined);
    if (isShoalError(err) && err.code === "ALREADY_EXISTS") return;
    throw err;
  }
}

export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, "").slice(0, 12);
}
