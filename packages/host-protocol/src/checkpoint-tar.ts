// A checkpoint's tree read from a directory or from its tar archive, and the archive written
// from a directory (layout: checkpoint-archive.ts). node-tar writes and reads the archives.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, lstat, readFile, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { create, extract, Parser } from "tar";
import type { ReadEntry } from "tar";
import { InvalidArgumentError } from "@shoal/domain";
import { CHECKPOINT_METADATA_FILE, parseCheckpointMetadata, treeDigest } from "./checkpoint-archive";
import type { CheckpointMetadata, TreeEntry } from "./checkpoint-archive";

/** Files up to this size are read whole to be hashed; larger ones (a big shm) are streamed. */
const READ_WHOLE_BYTES = 16 * 1024 * 1024;

/** The sha256 of a file's content, hex. */
async function hashFile(path: string, size: number): Promise<string> {
  const h = createHash("sha256");
  if (size <= READ_WHOLE_BYTES) h.update(await readFile(path));
  else await pipeline(createReadStream(path), h);
  return h.digest("hex");
}

/**
 * The tree under `dir` (files hashed), as treeDigest takes it. Sockets, FIFOs and devices are
 * left out. Each directory's entries are looked at, and its files hashed, concurrently: a
 * checkpoint holds tens of image files, which one after another cost tens of milliseconds.
 */
export async function checkpointTree(dir: string): Promise<TreeEntry[]> {
  const walk = async (rel: string): Promise<TreeEntry[][]> =>
    Promise.all(
      (await readdir(join(dir, rel))).map(async (name): Promise<TreeEntry[]> => {
        const path = rel === "" ? name : `${rel}/${name}`;
        const abs = join(dir, path);
        const st = await lstat(abs);
        if (st.isDirectory()) return [{ type: "dir", path, mode: st.mode }, ...(await walk(path)).flat()];
        if (st.isSymbolicLink()) return [{ type: "symlink", path, target: await readlink(abs) }];
        if (st.isFile()) return [{ type: "file", path, mode: st.mode, size: st.size, sha256: await hashFile(abs, st.size) }];
        return [];
      }),
    );
  return (await walk("")).flat();
}

/** The archive of the checkpoint directory `dir`: a tar stream of the tree checkpointTree lists. */
export function packCheckpoint(dir: string, entries: readonly TreeEntry[]): Readable {
  const paths = entries.filter((e) => e.type !== "dir").map((e) => e.path);
  const dirs = entries.filter((e) => e.type === "dir").map((e) => e.path);
  // Directories first (each added alone, not its contents again), then everything else.
  // node-tar's streams are minipass streams, async iterable: a Node Readable from that.
  return Readable.from(create({ cwd: dir, noDirRecurse: true, gzip: false }, [...dirs.sort(), ...paths.sort()]));
}

/** Writes every chunk of `source` into a node-tar (minipass) sink, waiting while it is full, and ends it. */
async function feed(
  source: AsyncIterable<Uint8Array>,
  sink: { write(c: Uint8Array): boolean; end(): unknown; once(e: string, f: (...a: unknown[]) => void): unknown; on(e: string, f: (...a: unknown[]) => void): unknown },
  done: string,
): Promise<void> {
  let failed: Error | undefined;
  const finished = new Promise<void>((resolve, reject) => {
    sink.once(done, () => resolve());
    // A bad archive makes a strict parser report more than once: every report is taken here.
    sink.on("error", (err) => {
      failed ??= err as Error;
      reject(failed);
    });
  });
  finished.catch(() => undefined);
  for await (const chunk of source) {
    if (failed !== undefined) break;
    if (!sink.write(chunk)) await Promise.race([new Promise<void>((resolve) => sink.once("drain", () => resolve())), finished]);
  }
  if (failed === undefined) sink.end();
  await finished;
}

/** Unpacks an archive into the existing directory `into`, every mode exactly as archived (they are part of the digest). */
export async function unpackCheckpoint(source: AsyncIterable<Uint8Array>, into: string): Promise<void> {
  const modes: Array<[string, number]> = [];
  const sink = extract({
    cwd: into,
    preserveOwner: false,
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      if (entry.mode !== undefined && (entry.type === "Directory" || entry.type === "File" || entry.type === "OldFile")) modes.push([entry.path, entry.mode & 0o7777]);
    },
  });
  await feed(source, sink, "close");
  // mkdir and open apply the process umask (a writable layer's sticky 1777 /tmp would come out 1755).
  for (const [path, mode] of modes.reverse()) await chmod(join(into, path), mode);
}

/**
 * Reads an archive without unpacking it: its digest (the tree's) and its metadata.
 * InvalidArgumentError when it is not a checkpoint archive.
 */
export async function readCheckpointArchive(source: AsyncIterable<Uint8Array>): Promise<{ digest: string; metadata: CheckpointMetadata; sizeBytes: number }> {
  const entries: TreeEntry[] = [];
  let metadataText: string | undefined;
  let sizeBytes = 0;
  const pending: Promise<void>[] = [];
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      const path = entry.path.replace(/^\.\//, "").replace(/\/$/, "");
      if (entry.type === "Directory") {
        entries.push({ type: "dir", path, mode: entry.mode ?? 0o755 });
        entry.resume();
      } else if (entry.type === "SymbolicLink") {
        entries.push({ type: "symlink", path, target: entry.linkpath ?? "" });
        entry.resume();
      } else if (entry.type === "File" || entry.type === "OldFile" || entry.type === "ContiguousFile") {
        const h = createHash("sha256");
        const chunks: Buffer[] = [];
        const isMetadata = path === CHECKPOINT_METADATA_FILE;
        pending.push(
          new Promise((resolve, reject) => {
            entry.on("data", (c: Buffer) => {
              h.update(c);
              if (isMetadata) chunks.push(c);
            });
            entry.on("end", () => {
              entries.push({ type: "file", path, mode: entry.mode ?? 0o644, size: entry.size ?? 0, sha256: h.digest("hex") });
              sizeBytes += entry.size ?? 0;
              if (isMetadata) metadataText = Buffer.concat(chunks).toString("utf8");
              resolve();
            });
            entry.on("error", reject);
          }),
        );
      } else {
        entry.resume();
      }
    },
  });
  try {
    await feed(source, parser, "end");
    await Promise.all(pending);
  } catch (err) {
    throw new InvalidArgumentError(`not a checkpoint archive: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (metadataText === undefined) throw new InvalidArgumentError(`not a checkpoint archive: it has no ${CHECKPOINT_METADATA_FILE}`);
  let json: unknown;
  try {
    json = JSON.parse(metadataText);
  } catch (err) {
    throw new InvalidArgumentError(`not a checkpoint archive: ${CHECKPOINT_METADATA_FILE} is not JSON`, { cause: err });
  }
  return { digest: treeDigest(entries), metadata: parseCheckpointMetadata(json), sizeBytes };
}

/** A Node stream of a web stream's bytes (an object store's reader). */
export function fromWebStream(stream: ReadableStream<Uint8Array>): Readable {
  return Readable.fromWeb(stream as import("node:stream/web").ReadableStream<Uint8Array>);
}
