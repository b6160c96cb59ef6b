import { FailedPreconditionError, NotFoundError, familiarString, isShoalError, parseImageReference, referenceString } from "@shoal/domain";
import type { CommandPayload, ImageRemoval, ImageSummary } from "@shoal/host-protocol";
import type { AgentContext } from "../agent-context";
import { danglingName, findImage, isDanglingName, isImageIdLike, localImages, summaryOf } from "./local-images";

// `images`, `image inspect`, `rmi` and `tag` on this host's containerd. The control plane
// checks that no container uses an image before it asks a host to remove it; containerd's
// garbage collector then frees the content and snapshots nothing else holds.

export async function listImages(ctx: AgentContext): Promise<ImageSummary[]> {
  return [...(await localImages(ctx.containerd)).values()].map(summaryOf);
}

export async function inspectImage(ctx: AgentContext, p: CommandPayload<"InspectImage">): Promise<ImageSummary> {
  const found = await findImage(ctx.containerd, p.image);
  if (p.allNames !== true) return summaryOf(found);
  return summaryOf((await localImages(ctx.containerd)).get(found[0]!.configDigest) ?? found);
}

/**
 * rmi on this host, as the control plane decided it: a reference untags that name; an id
 * untags every name. The image goes with its last name (a garbage collection runs before
 * the answer, so its content and snapshots are freed by then), unless `keepDangling`: then
 * it stays without a name. Without `force`, an id with names in several repositories is
 * refused ("… (must be forced) - image is referenced in multiple repositories").
 */
export async function removeImage(ctx: AgentContext, p: CommandPayload<"RemoveImage">): Promise<ImageRemoval> {
  const records = await findImage(ctx.containerd, p.image);
  const id = records[0]!.configDigest;
  const all = (await localImages(ctx.containerd)).get(id) ?? records;
  const named = all.filter((r) => !isDanglingName(r.record.name));
  let untag = records.filter((r) => !isDanglingName(r.record.name));
  if (isImageIdLike(p.image)) {
    const repos = new Set(
      named.map((r) => {
        const ref = parseImageReference(r.record.name);
        return `${ref.domain}/${ref.path}`;
      }),
    );
    if (repos.size > 1 && p.force !== true) {
      throw new FailedPreconditionError(`conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`);
    }
    untag = named;
  }
  const last = untag.length === named.length;
  if (last && p.keepDangling === true) await ctx.containerd.images.put({ name: danglingName(id), target: all[0]!.record.target });
  const untagged: string[] = [];
  for (const r of untag) {
    await ctx.containerd.images.delete(r.record.name).catch(ignoreGone);
    untagged.push(familiarString(parseImageReference(r.record.name)));
  }
  const deleted = last && p.keepDangling !== true;
  if (deleted) {
    // The nameless record too, if any; the last delete collects garbage before answering.
    await ctx.containerd.images.delete(danglingName(id), { sync: true }).catch(async (err: unknown) => {
      ignoreGone(err);
      await collectGarbage(ctx);
    });
  }
  ctx.log.info({ image: p.image, id, untagged, deleted }, "image removed");
  return { untagged, deleted: deleted ? [id] : [] };
}

function ignoreGone(err: unknown): void {
  if (!(isShoalError(err) && err.code === "NOT_FOUND")) throw err;
}

/** Runs containerd's garbage collector now (deleting a throwaway lease with `sync` does). */
async function collectGarbage(ctx: AgentContext): Promise<void> {
  const lease = await ctx.containerd.leases.create();
  await ctx.containerd.leases.delete(lease.id, { sync: true });
}

/** Adds `target` for the image `source` names (replacing what `target` named before, as Docker's tag does). */
export async function tagImage(ctx: AgentContext, p: CommandPayload<"TagImage">): Promise<void> {
  const [source] = await findImage(ctx.containerd, p.source);
  if (source === undefined) throw new NotFoundError(`No such image: ${p.source}`);
  await ctx.containerd.images.put({ name: referenceString(parseImageReference(p.target)), target: source.record.target });
}
