/** What a host answers about its images (PullImage, ListImages, InspectImage, RemoveImage). */
import type { ImageRunConfig } from "@shoal/domain";

/** One image in a host's containerd. */
export interface ImageSummary {
  /** `sha256:<hex>` of the image's config: Docker's image ID. */
  id: string;
  /** Canonical references naming it (`docker.io/library/busybox:latest`). */
  names: string[];
  /** `repository@sha256:<hex>` of what each name's registry served (index or manifest). */
  repoDigests: string[];
  /** Unpacked size (the layers' snapshots). */
  sizeBytes: number;
  /** The config's `created`, ISO-8601; absent when the image does not say. */
  created?: string;
  os: string;
  architecture: string;
  config: ImageRunConfig & { labels?: Record<string, string> };
  /** rootfs.diff_ids. */
  diffIds: string[];
}

/** Docker's pull progress, one line per layer and status (PullImage's `progressSubject`). */
export interface PullProgressLine {
  /** A layer's short digest (12 hex), or the tag for the first line. */
  id: string;
  /** "Pulling fs layer", "Downloading", "Download complete", "Extracting", "Pull complete", "Already exists", "Pulling from …". */
  status: string;
  current?: number;
  total?: number;
}

/** RemoveImage's answer, in Docker's words. */
export interface ImageRemoval {
  /** Familiar references untagged ("busybox:latest"). */
  untagged: string[];
  /** Image ids deleted. */
  deleted: string[];
}
