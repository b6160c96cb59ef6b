// A checkpoint as it is stored and moved (README "Checkpoint and restore"): one directory
// on its host, `<state-root>/checkpoints/<hex>`, and as one tar archive (export, import, the
// control plane's replica store). Its digest is the content digest of the tree, so the same
// checkpoint has the same digest on a host and in an archive, whatever tar wrote it.
//
//   checkpoint.json                 CheckpointMetadata
//   containers/<id>/criu/           CRIU's images of one container (the group's owner first)
//   containers/<id>/upper/          its writable layer, for a restore on a host that lacks it
//   shm/                            a shareable owner's /dev/shm contents
import { createHash } from "node:crypto";
import { z } from "zod";
import { parsePayload } from "./parse-payload";

export const CHECKPOINT_METADATA_FILE = "checkpoint.json";
export const CHECKPOINT_SHM_DIR = "shm";

/** The images of container `id` inside a checkpoint. */
export function checkpointImagesDir(id: string): string {
  return `containers/${id}/criu`;
}
export function checkpointUpperDir(id: string): string {
  return `containers/${id}/upper`;
}

const hostFacts = z.object({ criuVersion: z.string(), kernel: z.string(), cpuFlags: z.array(z.string()), arch: z.string() });

/** `checkpoint.json`: what a checkpoint holds, written by the host that made it. */
export const checkpointMetadataSchema = z.object({
  version: z.literal(1),
  name: z.string().min(1),
  /** The container it belongs to: the one checkpointed, or a group's owner. */
  containerId: z.string().min(1),
  mode: z.enum(["private", "none", "shareable"]),
  /** Every container dumped, in dump order, with the spec it ran with. */
  containers: z.array(z.object({ id: z.string().min(1), spec: z.unknown() })).min(1),
  group: z.object({ ownerId: z.string(), memberIds: z.array(z.string()) }).optional(),
  shmSaved: z.boolean(),
  host: z.string().min(1),
  made: hostFacts,
  leaveRunning: z.boolean(),
  createdAt: z.string(),
});
export type CheckpointMetadata = z.infer<typeof checkpointMetadataSchema>;

/** InvalidArgumentError naming the field when `value` is not checkpoint metadata. */
export function parseCheckpointMetadata(value: unknown): CheckpointMetadata {
  return parsePayload(checkpointMetadataSchema, CHECKPOINT_METADATA_FILE, value) as CheckpointMetadata;
}

/** One entry of a checkpoint tree: a regular file with its content's sha256, a directory or a symlink. */
export type TreeEntry =
  | { type: "file"; path: string; mode: number; size: number; sha256: string }
  | { type: "dir"; path: string; mode: number }
  | { type: "symlink"; path: string; target: string };

/**
 * `sha256:<hex>` over the tree's entries in path order: each file's path, permission bits,
 * size and content hash, each directory's path and bits, each link's target. Paths are
 * relative, `/`-separated, without `./`; the root itself is not an entry.
 */
export function treeDigest(entries: readonly TreeEntry[]): string {
  const lines = entries
    .map((e) => {
      const path = e.path.replace(/^\.\//, "").replace(/\/$/, "");
      if (e.type === "file") return `${path}\0f ${(e.mode & 0o7777).toString(8)} ${e.size} ${e.sha256}`;
      if (e.type === "dir") return `${path}\0d ${(e.mode & 0o7777).toString(8)}`;
      return `${path}\0l ${e.target}`;
    })
    .filter((l) => !l.startsWith("\0"))
    .sort();
  const h = createHash("sha256");
  for (const l of lines) h.update(`${l}\n`);
  return `sha256:${h.digest("hex")}`;
}

/** The hex part of a `sha256:<hex>` digest (a directory or object name). */
export function digestHex(digest: string): string {
  return digest.slice("sha256:".length);
}
