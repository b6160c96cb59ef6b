import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import pLimit from "p-limit";
import { FailedPreconditionError, isShoalError, parseImageReference, referenceString } from "@shoal/domain";
import type { Descriptor, ImageReference } from "@shoal/domain";
import type { CommandPayload, ImageSummary, PullProgressLine } from "@shoal/host-protocol";
import { createRegistryClient, platformOfHost } from "@shoal/registry";
import type { RegistryClient } from "@shoal/registry";
import type { AgentContext } from "../agent-context";
import { KeyedMutex } from "../keyed-mutex";
import { GC_LABELS, SNAPSHOTTER, chainIds, findImage, summaryOf } from "./local-images";
import type { ImageConfigBlob } from "./local-images";

// A pull (README "Images"): resolve the reference at its registry, write the index, manifest,
// config and layers into containerd's content store and unpack the layers into snapshots
// named by chain ID, all under one lease; then label what was written so containerd's
// garbage collector keeps it from the image record, record the image, and drop the lease.
// Layers download in parallel (three at a time, as Docker's default) and each is unpacked as
// soon as it and the layers below it are there. A pull killed midway leaves partial writes
// and an expiring lease: the next pull resumes each write from what containerd holds, and
// containerd frees the rest once the lease expires.

/** Layers downloaded at once (Docker's `max-concurrent-downloads`). */
const CONCURRENT_DOWNLOADS = 3;
/** A pull's lease outlives a killed agent by this long, then containerd collects what it held. */
const LEASE_TTL_MS = 60 * 60 * 1000;
/** Progress lines for one layer's bytes are sent at most this often. */
const PROGRESS_EVERY_MS = 100;

/** One pull per reference at a time on this host; a second waits and finds the image there. */
const pulls = new KeyedMutex();

/**
 * Pulls `p.reference` into this host's containerd and answers the image. Errors are the
 * registry client's (NotFoundError for a missing tag, FailedPreconditionError for refused
 * credentials or a digest mismatch, UnavailableError for an unreachable registry); nothing
 * is recorded then.
 */
export function pullImage(ctx: AgentContext, p: CommandPayload<"PullImage">): Promise<ImageSummary> {
  const ref = parseImageReference(p.reference);
  return pulls.run(referenceString(ref), async () => {
    const progress = progressSender(ctx, p.progressSubject);
    const registry = createRegistryClient({
      ...(p.auth !== undefined ? { credentials: { [ref.domain]: p.auth } } : {}),
      ...(p.insecureRegistries !== undefined ? { insecureRegistries: p.insecureRegistries } : {}),
    });
    progress({ id: ref.tag ?? ref.digest ?? "latest", status: `Pulling from ${ref.path}` });
    const resolved = await registry.resolve(ref, { platform: platformOfHost() });
    const lease = await ctx.containerd.leases.create({
      labels: { "shoal.pull": referenceString(ref) },
      expiresAt: new Date(Date.now() + LEASE_TTL_MS),
    });
    try {
      const config = await fetchSmall(registry, ref, resolved.config);
      const parsed = JSON.parse(config.toString("utf8")) as ImageConfigBlob;
      const diffIds = parsed.rootfs?.diff_ids ?? [];
      const layers = resolved.manifest.parsed.layers;
      if (diffIds.length !== layers.length) {
        throw new FailedPreconditionError(`image ${p.reference}: its config lists ${diffIds.length} layers, its manifest ${layers.length}`);
      }
      const chains = chainIds(diffIds);
      await unpackLayers(ctx, registry, ref, layers, diffIds, chains, lease.id, progress);

      // Labels first (each blob names what it keeps alive), the image record last: from then
      // on the record is the root and the lease can go.
      const write = async (desc: Descriptor, bytes: Uint8Array, labels: Record<string, string>) => {
        const r = await ctx.containerd.content.write(`shoal-${desc.digest}`, desc, () => Readable.from([Buffer.from(bytes)]), { labels, lease: lease.id });
        // A blob already there keeps its labels from its own write: add this pull's.
        if (r.outcome === "already-present" && Object.keys(labels).length > 0) await ctx.containerd.content.update(desc.digest, labels);
      };
      await write(resolved.config, config, chains.length > 0 ? { [GC_LABELS.snapshotRef]: chains[chains.length - 1]! } : {});
      await write(resolved.manifest.descriptor, resolved.manifest.raw, {
        [GC_LABELS.contentRef("config")]: resolved.config.digest,
        ...Object.fromEntries(layers.map((l, i) => [GC_LABELS.contentRef(`l.${i}`), l.digest])),
      });
      if (resolved.index !== undefined) {
        await write(resolved.index.descriptor, resolved.index.raw, { [GC_LABELS.contentRef("m.0")]: resolved.manifest.descriptor.digest });
      }
      const top = resolved.index?.descriptor ?? resolved.manifest.descriptor;
      const target = { mediaType: top.mediaType, digest: top.digest, size: top.size };
      // A digest reference names the image by `repo@digest`, a tag by `repo:tag` (both with `tag@digest`).
      const names = [
        ...(ref.tag !== undefined ? [referenceString({ domain: ref.domain, path: ref.path, tag: ref.tag })] : []),
        ...(ref.digest !== undefined && ref.tag === undefined ? [referenceString({ domain: ref.domain, path: ref.path, digest: ref.digest })] : []),
      ];
      for (const name of names) await ctx.containerd.images.put({ name, target });
    } finally {
      await ctx.containerd.leases.delete(lease.id).catch((err: unknown) => ctx.log.warn({ err, lease: lease.id }, "could not delete a pull's lease; it expires"));
    }
    const image = await findImage(ctx.containerd, p.reference);
    ctx.log.info({ reference: p.reference, id: image[0]!.configDigest, digest: resolved.digest }, "image pulled");
    return summaryOf(image);
  });
}

/**
 * Downloads the missing layer blobs (CONCURRENT_DOWNLOADS at a time) and unpacks each one
 * whose snapshot is missing, bottom first, as soon as it and those below are there. Layers
 * already unpacked are "Already exists", as Docker says.
 */
async function unpackLayers(
  ctx: AgentContext,
  registry: RegistryClient,
  ref: ImageReference,
  layers: readonly Descriptor[],
  diffIds: readonly string[],
  chains: readonly string[],
  lease: string,
  progress: (line: PullProgressLine) => void,
): Promise<void> {
  const snapshots = ctx.containerd.snapshots(SNAPSHOTTER);
  const unpacked = await Promise.all(chains.map((c) => snapshots.stat(c).then(() => true, () => false)));
  // The snapshots of a chain exist bottom-up: once one is missing, every one above it is too.
  const firstMissing = unpacked.indexOf(false);
  const todo = firstMissing < 0 ? [] : layers.slice(firstMissing).map((l, k) => ({ layer: l, i: firstMissing + k }));
  for (const [i, l] of layers.entries()) {
    if (firstMissing < 0 || i < firstMissing) progress({ id: shortDigest(l.digest), status: "Already exists" });
  }
  for (const { layer } of todo) progress({ id: shortDigest(layer.digest), status: "Pulling fs layer" });

  const slots = pLimit(CONCURRENT_DOWNLOADS);
  const downloads = todo.map(({ layer, i }) =>
    slots(async () => {
      await downloadLayer(ctx, registry, ref, layer, diffIds[i]!, lease, progress);
      progress({ id: shortDigest(layer.digest), status: "Download complete" });
    }),
  );
  // Every download is awaited (or its failure caught) before returning, so none outlives a failed pull.
  const settled = Promise.allSettled(downloads);
  try {
    for (const [k, { layer, i }] of todo.entries()) {
      await downloads[k];
      progress({ id: shortDigest(layer.digest), status: "Extracting", current: 0, total: layer.size });
      await applyLayer(ctx, layer, diffIds[i]!, chains[i]!, i === 0 ? "" : chains[i - 1]!, lease);
      progress({ id: shortDigest(layer.digest), status: "Pull complete" });
    }
  } finally {
    await settled;
  }
}

/** Writes one layer blob into the content store (resumed from containerd's offset after an interrupted pull). */
async function downloadLayer(
  ctx: AgentContext,
  registry: RegistryClient,
  ref: ImageReference,
  layer: Descriptor,
  diffId: string,
  lease: string,
  progress: (line: PullProgressLine) => void,
): Promise<void> {
  const id = shortDigest(layer.digest);
  let sentAt = 0;
  const source = async function* (offset: number): AsyncGenerator<Uint8Array> {
    // containerd verifies the whole blob at commit; the registry client verifies what it streams.
    const stream = (await registry.fetchBlob(ref, layer)) as Readable;
    let seen = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
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

/** A small blob (the config) read whole, verified by the registry client. */
async function fetchSmall(registry: RegistryClient, ref: ImageReference, desc: Descriptor): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of (await registry.fetchBlob(ref, desc)) as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Publishes progress lines on core NATS, best effort; a pull without a subject reports none. */
function progressSender(ctx: AgentContext, subject: string | undefined): (line: PullProgressLine) => void {
  if (subject === undefined) return () => undefined;
  return (line) => {
    try {
      ctx.nc.publish(subject, JSON.stringify(line));
    } catch {
      // Progress is best effort: the pull's answer is what counts.
    }
  };
}

function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, "").slice(0, 12);
}
