import { parseImageReference, referenceString } from "@shoal/domain";
import type { Descriptor, ImageReference } from "@shoal/domain";
import type { CommandPayload, ImageSummary, PullProgressLine } from "@shoal/host-protocol";
import { createRegistryClient, platformOfHost } from "@shoal/registry";
import type { RegistryClient } from "@shoal/registry";
import type { AgentContext } from "../agent-context";
import { KeyedMutex } from "../keyed-mutex";
import { findImage, refreshImageIds, summaryOf } from "./local-images";
import { storeImage } from "./store-image";

// A pull (README "Images"): resolve the reference at its registry (this platform's manifest
// of an index), then store the image (store-image.ts) with its layers streamed from the
// registry, verified by the registry client as they come and by containerd at commit.

/** How often a pull says it is alive while nothing else happens. */
const KEEPALIVE_MS = 5_000;

/** One pull per reference at a time on this host; a second waits and finds the image there. */
const pulls = new KeyedMutex();

/**
 * Pulls `p.reference` into this host's containerd and answers the image. Errors are the
 * registry client's (NotFoundError for a missing tag, FailedPreconditionError for refused
 * credentials or a digest mismatch, UnavailableError for an unreachable registry); nothing
 * is recorded then.
 */
export function pullImage(ctx: AgentContext, p: CommandPayload<"PullImage">): Promise<ImageSummary & { updated: boolean }> {
  const ref = parseImageReference(p.reference);
  return pulls.run(referenceString(ref), async () => {
    const progress = progressSender(ctx, p.progressSubject);
    // A line every few seconds even while a big layer unpacks: the control plane takes silence for a lost host.
    const keepalive = setInterval(() => progress({ id: "", status: "" }), KEEPALIVE_MS);
    try {
      return await pullLocked(ctx, p, ref, progress);
    } finally {
      clearInterval(keepalive);
    }
  });
}

async function pullLocked(
  ctx: AgentContext,
  p: CommandPayload<"PullImage">,
  ref: ImageReference,
  progress: (line: PullProgressLine) => void,
): Promise<ImageSummary & { updated: boolean }> {
  const registry = createRegistryClient({
    ...(p.auth !== undefined ? { credentials: { [ref.domain]: p.auth } } : {}),
    ...(p.insecureRegistries !== undefined ? { insecureRegistries: p.insecureRegistries } : {}),
  });
  progress({ id: ref.tag ?? ref.digest ?? "latest", status: `Pulling from ${ref.path}` });
  const before = await ctx.containerd.images.get(referenceString(ref)).then(
    (r) => r.target.digest,
    () => undefined,
  );
  const resolved = await registry.resolve(ref, { platform: platformOfHost() });
  const config = await fetchSmall(registry, ref, resolved.config);
  // A digest reference names the image by `repo@digest`, a tag by `repo:tag` (both with `tag@digest`).
  const names =
    ref.tag !== undefined
      ? [referenceString({ domain: ref.domain, path: ref.path, tag: ref.tag })]
      : [referenceString({ domain: ref.domain, path: ref.path, digest: ref.digest! })];
  await storeImage(
    ctx,
    {
      names,
      why: "shoal.pull",
      ...(resolved.index !== undefined ? { index: { desc: resolved.index.descriptor, bytes: resolved.index.raw } } : {}),
      manifest: { desc: resolved.manifest.descriptor, bytes: resolved.manifest.raw, layers: resolved.manifest.parsed.layers },
      config: { desc: resolved.config, bytes: config },
      layer: (i) => async () => (await registry.fetchBlob(ref, resolved.manifest.parsed.layers[i]!)) as AsyncIterable<Uint8Array>,
    },
    progress,
  );
  await refreshImageIds(ctx);
  const image = await findImage(ctx.containerd, p.reference);
  ctx.log.info({ reference: p.reference, id: image[0]!.configDigest, digest: resolved.digest, updated: before !== resolved.digest }, "image pulled");
  // Docker's "Downloaded newer image" when the name now names something else, else "Image is up to date".
  return { ...summaryOf(image), updated: before !== resolved.digest };
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
