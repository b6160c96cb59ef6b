import { FailedPreconditionError, NotFoundError, familiarString, isShoalError, parseImageReference, referenceString } from "@shoal/domain";
import type { CommandPayload, ImageRemoval, ImageSummary } from "@shoal/host-protocol";
import type { AgentContext } from "../agent-context";
import { findImage, isImageIdLike, localImages, summaryOf } from "./local-images";

// `images`, `image inspect`, `rmi` and `tag` on this host's containerd. The control plane
// checks that no container uses an image before it asks a host to remove it; containerd's
// garbage collector then frees the content and snapshots nothing else holds.

export async function listImages(ctx: AgentContext): Promise<ImageSummary[]> {
  return [...(await localImages(ctx.containerd)).values()].map(summaryOf);
}

export async function inspectImage(ctx: AgentContext, p: CommandPayload<"InspectImage">): Promise<ImageSummary> {
  return summaryOf(await findImage(ctx.containerd, p.image));
}

/**
 * Docker's rmi on this host: a reference untags that name, and the image goes with its last
 * name; an id removes every name, which needs `force` when there are several ("conflict:
 * unable to delete <id> (must be forced) - image is referenced in multiple repositories").
 */
export async function removeImage(ctx: AgentContext, p: CommandPayload<"RemoveImage">): Promise<ImageRemoval> {
  const records = await findImage(ctx.containerd, p.image);
  const id = records[0]!.configDigest;
  const all = (await localImages(ctx.containerd)).get(id) ?? records;
  let untag = records;
  if (isImageIdLike(p.image)) {
    const repos = new Set(all.map((r) => { const ref = parseImageReference(r.record.name); return `${ref.domain}/${ref.path}`; }));
    if (repos.size > 1 && p.force !== true) {
      throw new FailedPreconditionError(`conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`);
    }
    untag = all;
  }
  const untagged: string[] = [];
  for (const r of untag) {
    // The last name goes with a garbage collection, so content and snapshots are freed before the answer.
    const last = untag.length === all.length && r === untag[untag.length - 1];
    try {
      await ctx.containerd.images.delete(r.record.name, { sync: last });
    } catch (err) {
      if (!(isShoalError(err) && err.code === "NOT_FOUND")) throw err;
    }
    untagged.push(familiarString(parseImageReference(r.record.name)));
  }
  const gone = untag.length === all.length;
  ctx.log.info({ image: p.image, id, untagged, deleted: gone }, "image removed");
  return { untagged, deleted: gone ? [id] : [] };
}

/** Adds `target` for the image `source` names (replacing what `target` named before, as Docker's tag does). */
export async function tagImage(ctx: AgentContext, p: CommandPayload<"TagImage">): Promise<void> {
  const [source] = await findImage(ctx.containerd, p.source);
  if (source === undefined) throw new NotFoundError(`No such image: ${p.source}`);
  await ctx.containerd.images.put({ name: referenceString(parseImageReference(p.target)), target: source.record.target });
}
