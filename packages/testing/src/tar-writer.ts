import { lstat, readFile, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";

/**
 * One member of a tar stream the tests write. Paths are relative without a leading `./`;
 * a directory's path may end in `/` or not. Defaults: uid/gid 0, mode 0644 (file) /
 * 0755 (directory) / 0777 (symlink), mtime TAR_EPOCH.
 */
export type TarEntry =
  | { type: "file"; path: string; content: Buffer | string; mode?: number; uid?: number; gid?: number; mtime?: number }
  | { type: "dir"; path: string; mode?: number; uid?: number; gid?: number; mtime?: number }
  | { type: "symlink"; path: string; target: string; uid?: number; gid?: number; mtime?: number };

/** A fixed modification time (2024-01-01T00:00:00Z), so the same entries always give the same bytes and digests. */
export const TAR_EPOCH = 1_704_067_200;

const BLOCK = 512;

/**
 * A POSIX ustar archive of `entries` in the given order, ended by two zero blocks.
 * Deterministic: nothing depends on the clock or the machine. Throws for a path that does
 * not fit ustar's 100-byte name + 155-byte prefix split or a link target over 100 bytes.
 */
export function tarBuffer(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const content = e.type === "file" ? (typeof e.content === "string" ? Buffer.from(e.content) : e.content) : Buffer.alloc(0);
    const path = e.type === "dir" && !e.path.endsWith("/") ? `${e.path}/` : e.path;
    parts.push(header(e, path, content.length));
    if (content.length > 0) {
      parts.push(content);
      const pad = (BLOCK - (content.length % BLOCK)) % BLOCK;
      if (pad > 0) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

/**
 * The entries of a directory tree, parents before children, names sorted, as a layer of it
 * would hold them: directories, regular files (content read), symlinks; owners as 0:0 and
 * mtimes as TAR_EPOCH so the layer's digest depends only on names, modes and content.
 * Other file types (devices, sockets) are skipped.
 */
export async function tarEntriesOfDirectory(root: string, prefix = ""): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const abs = join(dir, name);
      const path = rel === "" ? name : `${rel}/${name}`;
      const st = await lstat(abs);
      const mode = st.mode & 0o7777;
      if (st.isDirectory()) {
        out.push({ type: "dir", path, mode });
        await walk(abs, path);
      } else if (st.isFile()) {
        out.push({ type: "file", path, mode, content: await readFile(abs) });
      } else if (st.isSymbolicLink()) {
        out.push({ type: "symlink", path, target: await readlink(abs) });
      }
    }
  };
  await walk(root, prefix);
  return out;
}

function header(e: TarEntry, path: string, size: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const [prefix, name] = splitPath(path);
  h.write(name, 0, 100, "utf8");
  const mode = e.type === "symlink" ? 0o777 : (e.mode ?? (e.type === "dir" ? 0o755 : 0o644));
  octal(h, 100, 8, mode);
  octal(h, 108, 8, e.uid ?? 0);
  octal(h, 116, 8, e.gid ?? 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, e.mtime ?? TAR_EPOCH);
  h.write(e.type === "file" ? "0" : e.type === "dir" ? "5" : "2", 156, 1, "ascii");
  if (e.type === "symlink") {
    if (Buffer.byteLength(e.target) > 100) throw new Error(`tar: link target of ${path} is longer than 100 bytes`);
    h.write(e.target, 157, 100, "utf8");
  }
  h.write("ustar\u0000", 257, 6, "ascii");
  h.write("00", 263, 2, "ascii");
  h.write("root", 265, 32, "ascii");
  h.write("root", 297, 32, "ascii");
  h.write(prefix, 345, 155, "utf8");
  // Checksum: sum of the header bytes with the checksum field read as spaces.
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, 8, "ascii");
  return h;
}

function splitPath(path: string): [prefix: string, name: string] {
  if (Buffer.byteLength(path) <= 100) return ["", path];
  // Split at a slash so that the name part fits 100 bytes and the prefix 155.
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== "/") continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(name) <= 100 && Buffer.byteLength(prefix) <= 155 && name !== "") return [prefix, name];
  }
  throw new Error(`tar: path too long for ustar: ${path}`);
}

function octal(h: Buffer, offset: number, length: number, value: number): void {
  h.write(`${value.toString(8).padStart(length - 1, "0")}\u0000`, offset, length, "ascii");
}
