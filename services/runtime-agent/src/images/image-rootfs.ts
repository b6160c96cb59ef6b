import { FailedPreconditionError, isShoalError, parseImageReference, referenceString } from "@shoal/domain";
import type { Mount } from "@shoal/containerd";
import type { CommandPayload } from "@shoal/host-protocol";
import type { AgentContext } from "../agent-context";
import { GC_LABELS, SNAPSHOTTER, findImage, localImages } from "./local-images";
import type { LocalImage } from "./local-images";
import { pullImage } from "./pull-image";
import { rootfsDirs } from "./resolve-user";

// A container's root filesystem from an image: a snapshot keyed by the container id,
// prepared from the image's top chain, kept across restarts (the container's writable
// layer, as Docker's) and removed with the container.

type ImageSource = Extract<CommandPayload<"StartContainer">["rootfs"], { image: string }>;

/**
 * The container's rootfs mounts: its snapshot as it is, else one prepared from the image
 * (pulled first when this host lacks it: `image@digest` when the start carries the digest).
 * `created`: this call made the snapshot (a failed first start removes it again).
 * FailedPreconditionError when the image found here is not the one the container was created from.
 */
export async function imageRootfs(ctx: AgentContext, containerId: string, src: ImageSource): Promise<{ mounts: Mount[]; created: boolean }> {
  const snapshots = ctx.containerd.snapshots(SNAPSHOTTER);
  const existing = await snapshots.mounts(containerId).catch((err: unknown) => {
    if (isShoalError(err) && err.code === "NOT_FOUND") return undefined;
    throw err;
  });
  if (existing !== undefined) return { mounts: existing, created: false };
  const image = await localImage(ctx, src);
  const top = image.chainIds[image.chainIds.length - 1] ?? "";
  const mounts = await snapshots.prepare(containerId, top, { labels: { [GC_LABELS.root]: new Date().toISOString() } });
  return { mounts, created: true };
}

/** The directory an image container writes to: its snapshot's overlay upper directory (the snapshot itself when it has no parent). */
export function writableLayerOf(mounts: readonly Mount[]): string | undefined {
  return rootfsDirs(mounts)[0];
}

/** The writable layer of a container whose rootfs is its snapshot, as containerd mounts it now. */
export async function snapshotWritableLayer(ctx: AgentContext, containerId: string): Promise<string | undefined> {
  return writableLayerOf(await ctx.containerd.snapshots(SNAPSHOTTER).mounts(containerId));
}

/** Removes a container's snapshot (gone already is fine). */
export async function removeContainerSnapshot(ctx: AgentContext, containerId: string): Promise<void> {
  await ctx.containerd
    .snapshots(SNAPSHOTTER)
    .remove(containerId)
    .catch((err: unknown) => {
      if (!(isShoalError(err) && err.code === "NOT_FOUND")) throw err;
    });
}

async function localImage(ctx: AgentContext, src: ImageSource): Promise<LocalImage> {
  const here = await lookup(ctx, src);
  if (here !== undefined) return here;
  const ref = parseImageReference(src.image);
  const pinned = src.digest !== undefined ? referenceString({ domain: ref.domain, path: ref.path, digest: src.digest }) : referenceString(ref);
  await pullImage(ctx, { reference: pinned, ...(src.auth !== undefined ? { auth: src.auth } : {}) });
  const pulled = await lookup(ctx, src);
  if (pulled === undefined) {
    throw new FailedPreconditionError(`image ${src.image} pulled on host ${ctx.host} is not the image ${src.id ?? ""} the container was created from`);
  }
  return pulled;
}

/** The image the container was created from, if this host holds it (by id, else by reference). */
async function lookup(ctx: AgentContext, src: ImageSource): Promise<LocalImage | undefined> {
  // By its reference first (one record to read); the whole catalogue only when the tag moved on.
  const byName = await findImage(ctx.containerd, src.image).then(
    (found) => found[0],
    (err: unknown) => {
      if (isShoalError(err) && err.code === "NOT_FOUND") return undefined;
      throw err;
    },
  );
  if (src.id === undefined || byName?.configDigest === src.id) return byName;
  return (await localImages(ctx.containerd)).get(src.id)?.[0];
}
