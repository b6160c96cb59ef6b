/**
 * Events of a host's images (stream `image-<host>`): what a host pulled, failed to pull
 * and removed, for `shoal events` and the record. Each host's containerd stays the truth
 * of what it holds; these are the history. Wire contracts: add fields only.
 */
import { hostStreamId } from "../event-envelope";

/** `image-<host>`; InvalidArgumentError for an invalid host name. */
export function imageStreamId(host: string): string {
  return `image-${hostStreamId(host).slice("host-".length)}`;
}

/** `reference` canonical; `digest` what it resolved to (empty for a loaded image); `id` the config digest. */
export type ImagePulled = { type: "ImagePulled"; data: { host: string; reference: string; id: string; digest: string; at: string } };
/** The pull's error as the host gave it. */
export type ImagePullFailed = { type: "ImagePullFailed"; data: { host: string; reference: string; reason: string; at: string } };
/** `untagged`: familiar references; `deleted`: whether the image itself went. */
export type ImageRemoved = { type: "ImageRemoved"; data: { host: string; id: string; untagged: string[]; deleted: boolean; at: string } };

export type ImageEvent = ImagePulled | ImagePullFailed | ImageRemoved;

export const IMAGE_EVENT_SCHEMA_VERSIONS: Readonly<Record<ImageEvent["type"], number>> = {
  ImagePulled: 1,
  ImagePullFailed: 1,
  ImageRemoved: 1,
};
