import { mkdtemp, mkdir, rm, symlink, writeFile, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "@shoal/domain";
import { checkpointTree, packCheckpoint, readCheckpointArchive, treeDigest, unpackCheckpoint } from "./index";

// A checkpoint's digest is its tree's: the same on its host, in its archive, and once unpacked.
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "shoal-cp-archive-"));
  const src = join(dir, "src");
  await mkdir(join(src, "containers/abc/criu"), { recursive: true });
  await mkdir(join(src, "shm"), { recursive: true });
  await writeFile(join(src, "containers/abc/criu/pages-1.img"), Buffer.alloc(300_000, 7));
  await writeFile(join(src, "shm/data"), "shared");
  await chmod(join(src, "shm/data"), 0o600);
  await symlink("data", join(src, "shm/link"));
  // A writable layer's /tmp: sticky and world-writable, which the process umask would change on unpacking.
  await mkdir(join(src, "containers/abc/upper/tmp"), { recursive: true });
  await chmod(join(src, "containers/abc/upper/tmp"), 0o1777);
  await writeFile(
    join(src, "checkpoint.json"),
    JSON.stringify({
      version: 1,
      name: "cp1",
      containerId: "abc",
      mode: "shareable",
      containers: [{ id: "abc", spec: {} }],
      shmSaved: true,
      host: "h1",
      made: { criuVersion: "4.2.1", kernel: "6.18.0", cpuFlags: ["fpu"], arch: "x86_64" },
      leaveRunning: false,
      createdAt: "2026-12-07T00:00:00.000Z",
    }),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("checkpoint archives", () => {
  it("pack → read gives the tree's digest and the metadata; pack → unpack gives the same tree", async () => {
    const src = join(dir, "src");
    const tree = await checkpointTree(src);
    const digest = treeDigest(tree);
    const read = await readCheckpointArchive(packCheckpoint(src, tree));
    expect(read.digest).toBe(digest);
    expect(read.metadata).toMatchObject({ name: "cp1", containerId: "abc", mode: "shareable" });
    expect(read.sizeBytes).toBeGreaterThan(300_000);
    const out = join(dir, "out");
    await mkdir(out);
    await unpackCheckpoint(packCheckpoint(src, tree), out);
    expect(treeDigest(await checkpointTree(out))).toBe(digest);
  });

  it("a changed byte or mode changes the digest", async () => {
    const src = join(dir, "src");
    const before = treeDigest(await checkpointTree(src));
    await chmod(join(src, "shm/data"), 0o644);
    expect(treeDigest(await checkpointTree(src))).not.toBe(before);
    await chmod(join(src, "shm/data"), 0o600);
    await writeFile(join(src, "shm/data"), "sharee");
    expect(treeDigest(await checkpointTree(src))).not.toBe(before);
    await writeFile(join(src, "shm/data"), "shared");
    expect(treeDigest(await checkpointTree(src))).toBe(before);
  });

  it("refuses what is not a checkpoint archive, once, with a clear error", async () => {
    await expect(readCheckpointArchive(Readable.from([Buffer.from("not a tar archive at all".repeat(100))]))).rejects.toThrow(InvalidArgumentError);
    await expect(readCheckpointArchive(Readable.from([Buffer.from("not a tar archive at all".repeat(100))]))).rejects.toThrow(/^not a checkpoint archive/);
  });
});
