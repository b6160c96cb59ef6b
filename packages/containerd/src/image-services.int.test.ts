import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tar from "tar";
import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from "@shoal/domain";
import { startTestContainerd } from "@shoal/testing";
import type { TestContainerd } from "@shoal/testing";
import { connectContainerd } from "./index";
import type { ContainerdClient, Descriptor, Mount } from "./index";

// A private containerd; this file's own containerd namespace. Layers are gzip'd tars built
// here with node-tar; what containerd unpacked is checked by mounting a view of it.

const execFileAsync = promisify(execFile);
const WORK = "/var/lib/shoal-test/image-services-work";
const LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
const GC_ROOT = "containerd.io/gc.root";

let ctrd: TestContainerd;
let client: ContainerdClient;
let seq = 0;

beforeAll(async () => {
  ctrd = await startTestContainerd({ name: "image-services" });
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
  client = await connectContainerd({ socket: ctrd.socket, namespace: `image-services-${process.pid}` });
});

afterAll(async () => {
  client?.close();
  await ctrd?.stop();
  await rm(WORK, { recursive: true, force: true });
});

function sha256(data: Uint8Array): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

function unique(label: string): string {
  seq += 1;
  return `${label}-${process.pid}-${seq}`;
}

/** chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)). */
function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? diffId : sha256(Buffer.from(`${prev} ${diffId}`)));
  }
  return out;
}

interface Layer {
  tar: Buffer;
  gz: Buffer;
  descriptor: Descriptor;
  diffId: string;
}

/** A layer of `files` (path → content; directories are created as needed). */
async function layer(files: Record<string, string>): Promise<Layer> {
  const dir = await mkdtemp(join(tmpdir(), "shoal-layer-"));
  try {
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), content);
    }
    const file = `${dir}.tar`;
    await tar.c({ cwd: dir, file, portable: true }, await readdir(dir));
    const raw = await readFile(file);
    await rm(file, { force: true });
    const gz = gzipSync(raw);
    return { tar: raw, gz, descriptor: { mediaType: LAYER, digest: sha256(gz), size: gz.byteLength }, diffId: sha256(raw) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function blob(mediaType: string, data: Buffer): { data: Buffer; descriptor: Descriptor } {
  return { data, descriptor: { mediaType, digest: sha256(data), size: data.byteLength } };
}

async function* chunks(data: Buffer, size = 64 * 1024): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.byteLength; at += size) yield data.subarray(at, at + size);
}

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(Buffer.from(p));
  return Buffer.concat(parts);
}

/** Mounts `mounts` (one overlay or bind, as a snapshot view gives them) read-only, runs `fn` on the directory. */
async function withMounted<T>(mounts: Mount[], fn: (dir: string) => Promise<T>): Promise<T> {
  expect(mounts).toHaveLength(1);
  const [m] = mounts as [Mount];
  const dir = await mkdtemp(join(WORK, "mnt-"));
  const args = m.type === "bind" ? ["-o", (m.options ?? []).join(","), m.source, dir] : ["-t", m.type, "-o", (m.options ?? []).join(","), m.source, dir];
  await execFileAsync("mount", args);
  try {
    return await fn(dir);
  } finally {
    await execFileAsync("umount", [dir]);
    await rm(dir, { recursive: true, force: true });
  }
}

async function tree(dir: string, prefix = ""): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory()) Object.assign(out, { [`${path}/`]: "" }, await tree(join(dir, entry.name), `${path}/`));
    else out[path] = await readFile(join(dir, entry.name), "utf8");
  }
  return out;
}

/** A synchronous garbage collection: containerd runs one before a `sync` lease delete returns. */
async function collectGarbage(): Promise<void> {
  const lease = await client.leases.create();
  await client.leases.delete(lease.id, { sync: true });
}

async function expectGone(digest: string): Promise<void> {
  await expect(client.content.info(digest)).rejects.toBeInstanceOf(NotFoundError);
}

describe("content", () => {
  it("refuses a blob whose digest is not the expected one, and leaves neither blob nor ingest", async () => {
    const l = await layer({ "hello.txt": "hello" });
    const wrong = sha256(Buffer.from("something else"));
    const ref = unique("wrong-digest");

    await expect(client.content.write(ref, { ...l.descriptor, digest: wrong }, () => chunks(l.gz))).rejects.toBeInstanceOf(
      FailedPreconditionError,
    );

    await expectGone(wrong);
    await expectGone(l.descriptor.digest);
    expect((await client.content.listStatuses()).map((s) => s.ref)).not.toContain(ref);
  });

  it("refuses a blob of another size than the expected one", async () => {
    const data = randomBytes(1000);
    const ref = unique("wrong-size");
    await expect(client.content.write(ref, { mediaType: "x", digest: sha256(data), size: 999 }, () => chunks(data))).rejects.toBeInstanceOf(
      FailedPreconditionError,
    );
    await expectGone(sha256(data));
    expect((await client.content.listStatuses()).map((s) => s.ref)).not.toContain(ref);
  });

  it("resumes a write interrupted halfway from the offset containerd holds, and commits the right blob", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 123);
    const expected = { mediaType: LAYER, digest: sha256(data), size: data.byteLength };
    const ref = unique("resume");
    const half = 1536 * 1024;
    const lease = await client.leases.create();

    async function* interrupted(): AsyncGenerator<Buffer> {
      yield* chunks(data.subarray(0, half));
      throw new Error("connection to the registry lost");
    }
    await expect(client.content.write(ref, expected, () => interrupted(), { lease: lease.id })).rejects.toThrow(
      "connection to the registry lost",
    );
    const status = (await client.content.listStatuses()).find((s) => s.ref === ref);
    expect(status).toMatchObject({ ref, offset: half, total: data.byteLength });
    await expectGone(expected.digest);

    const offsets: number[] = [];
    const result = await client.content.write(
      ref,
      expected,
      (offset) => {
        offsets.push(offset);
        return chunks(data.subarray(offset));
      },
      { lease: lease.id, labels: { "shoal.test/kind": "resumed" } },
    );
    expect(result).toEqual({ outcome: "committed", resumedFrom: half });
    expect(offsets).toEqual([half]);
    expect(await client.content.info(expected.digest)).toMatchObject({ size: data.byteLength, labels: { "shoal.test/kind": "resumed" } });
    expect((await client.content.listStatuses()).map((s) => s.ref)).not.toContain(ref);
    expect((await readAll(client.content.read(expected.digest))).equals(data)).toBe(true);
    expect((await readAll(client.content.read(expected.digest, { offset: half }))).equals(data.subarray(half))).toBe(true);

    // Written again: present already, nothing read from the source.
    const again = await client.content.write(unique("again"), expected, () => {
      throw new Error("source must not be called");
    });
    expect(again.outcome).toBe("already-present");

    await client.leases.delete(lease.id, { sync: true });
    await expectGone(expected.digest);
  });

  it("resumes, in another process, a write whose process was killed halfway", async () => {
    const data = randomBytes(2 * 1024 * 1024 + 7);
    const expected = { mediaType: LAYER, digest: sha256(data), size: data.byteLength };
    const ref = unique("crash");
    const half = 1024 * 1024;
    const lease = await client.leases.create();
    const dataFile = join(WORK, `${ref}.bin`);
    await writeFile(dataFile, data);
    const script = join(WORK, `${ref}.mts`);
    // Writes the first half, reports once containerd holds it, then waits to be killed.
    await writeFile(
      script,
      `import { readFileSync } from "node:fs";
import { connectContainerd } from ${JSON.stringify(join(import.meta.dirname, "index.ts"))};
const data = readFileSync(${JSON.stringify(dataFile)});
const client = await connectContainerd({ socket: ${JSON.stringify(ctrd.socket)}, namespace: ${JSON.stringify(client.namespace)} });
async function* source() {
  yield data.subarray(0, ${half});
  for (;;) {
    const s = (await client.content.listStatuses()).find((x) => x.ref === ${JSON.stringify(ref)});
    if (s && s.offset === ${half}) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  process.stdout.write("half\\n");
  await new Promise(() => {});
}
await client.content.write(${JSON.stringify(ref)}, ${JSON.stringify(expected)}, () => source(), { lease: ${JSON.stringify(lease.id)} });
`,
    );
    // node itself (not the tsx CLI, which would leave its node child running when killed).
    const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: join(import.meta.dirname, "../../.."), stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (b: Buffer) => (b.toString().includes("half") ? resolve() : undefined));
        child.once("exit", (code) => reject(new Error(`writer exited with ${code} before writing half`)));
      });
    } finally {
      child.kill("SIGKILL");
      await exited;
    }

    const offsets: number[] = [];
    const result = await client.content.write(ref, expected, (offset) => {
      offsets.push(offset);
      return chunks(data.subarray(offset));
    }, { lease: lease.id });
    expect(result).toEqual({ outcome: "committed", resumedFrom: half });
    expect(offsets).toEqual([half]);
    expect((await readAll(client.content.read(expected.digest))).equals(data)).toBe(true);
    await client.leases.delete(lease.id, { sync: true });
  });

  it("commits a blob another containerd namespace holds without sending its bytes again", async () => {
    const data = randomBytes(100_000);
    const expected = { mediaType: "x", digest: sha256(data), size: data.byteLength };
    const other = await connectContainerd({ socket: ctrd.socket, namespace: `${client.namespace}-other` });
    try {
      const otherLease = await other.leases.create();
      await other.content.write(unique("shared"), expected, () => chunks(data), { lease: otherLease.id });
      const lease = await client.leases.create();
      const result = await client.content.write(unique("shared"), expected, () => {
        throw new Error("source must not be called");
      }, { lease: lease.id });
      expect(result).toEqual({ outcome: "committed", resumedFrom: data.byteLength });
      expect((await readAll(client.content.read(expected.digest))).equals(data)).toBe(true);
      await client.leases.delete(lease.id);
      await other.leases.delete(otherLease.id, { sync: true });
    } finally {
      other.close();
    }
  });

  it("a second write of a ref being written waits for the first, then finds the blob present", async () => {
    const data = randomBytes(300_000);
    const expected = { mediaType: "x", digest: sha256(data), size: data.byteLength };
    const ref = unique("concurrent");
    const lease = await client.leases.create();
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    async function* slow(): AsyncGenerator<Buffer> {
      yield data.subarray(0, 1000);
      await gate;
      yield data.subarray(1000);
    }
    const first = client.content.write(ref, expected, () => slow(), { lease: lease.id });
    // The first holds the ref once its bytes are in.
    while (!(await client.content.listStatuses()).some((s) => s.ref === ref && s.offset === 1000)) await new Promise((r) => setTimeout(r, 10));
    let secondCalled = false;
    const second = client.content.write(ref, expected, () => {
      secondCalled = true;
      return chunks(data);
    }, { lease: lease.id });
    await new Promise((r) => setTimeout(r, 300));
    release();
    expect(await first).toEqual({ outcome: "committed", resumedFrom: 0 });
    expect((await second).outcome).toBe("already-present");
    expect(secondCalled).toBe(false);
    await client.leases.delete(lease.id, { sync: true });
  });

  it("aborts a leftover ingest; reads and infos of absent blobs are NotFoundError", async () => {
    const data = randomBytes(4096);
    const ref = unique("leftover");
    async function* broken(): AsyncGenerator<Buffer> {
      yield data.subarray(0, 1000);
      throw new Error("stop");
    }
    await expect(client.content.write(ref, { mediaType: "x", digest: sha256(data), size: data.byteLength }, () => broken())).rejects.toThrow("stop");
    expect((await client.content.listStatuses()).map((s) => s.ref)).toContain(ref);
    await client.content.abort(ref);
    expect((await client.content.listStatuses()).map((s) => s.ref)).not.toContain(ref);
    await expect(client.content.abort(ref)).rejects.toBeInstanceOf(NotFoundError);
    await expect(readAll(client.content.read(sha256(data)))).rejects.toBeInstanceOf(NotFoundError);
    await expectGone(sha256(data));
  });

  it("counts a write as one Content/Write stream", async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const lease = await client.leases.create();
    const { rpcs } = await client.countRpcs(() =>
      client.content.write(unique("count"), { mediaType: "x", digest: sha256(data), size: data.byteLength }, () => chunks(data), {
        lease: lease.id,
      }),
    );
    expect(rpcs).toEqual({ "Content/Write": 1 });
    await client.leases.delete(lease.id, { sync: true });
  });
});

describe("leases", () => {
  it("keep content written under them until the lease is deleted; unleased, unreferenced content is collected", async () => {
    const kept = randomBytes(2048);
    const loose = randomBytes(2048);
    const lease = await client.leases.create({ labels: { "shoal.test/purpose": "pull" } });
    expect((await client.leases.list()).map((l) => l.id)).toContain(lease.id);

    await client.content.write(unique("kept"), { mediaType: "x", digest: sha256(kept), size: kept.byteLength }, () => chunks(kept), {
      lease: lease.id,
    });
    await client.content.write(unique("loose"), { mediaType: "x", digest: sha256(loose), size: loose.byteLength }, () => chunks(loose));
    expect(await client.leases.listResources(lease.id)).toContainEqual({ type: "content", id: sha256(kept) });

    await collectGarbage();
    expect((await client.content.info(sha256(kept))).size).toBe(kept.byteLength);
    await expectGone(sha256(loose));

    await client.leases.delete(lease.id, { sync: true });
    await expectGone(sha256(kept));
    expect((await client.leases.list()).map((l) => l.id)).not.toContain(lease.id);
    await expect(client.leases.delete(lease.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("an expired lease keeps nothing, and is itself collected", async () => {
    const data = randomBytes(512);
    const lease = await client.leases.create({ expiresAt: new Date(Date.now() - 60_000) });
    expect(lease.labels["containerd.io/gc.expire"]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    await client.content.write(unique("expired"), { mediaType: "x", digest: sha256(data), size: data.byteLength }, () => chunks(data), {
      lease: lease.id,
    });
    await collectGarbage();
    await expectGone(sha256(data));
    expect((await client.leases.list()).map((l) => l.id)).not.toContain(lease.id);
  });
});

describe("pull, unpack, run, remove", () => {
  it("unpacks layers into snapshots by chain ID, keeps them by image labels, and frees them after the image and container snapshot go", async () => {
    const snapshots = client.snapshots();
    const l0 = await layer({ a: "A0", keep: "K", "dir/x": "X", "dir/y": "Y", "other/o": "O" });
    // A whiteout removes a lower file; an opaque marker hides the lower content of dir/.
    const l1 = await layer({ ".wh.a": "", "dir/.wh..wh..opq": "", "dir/z": "Z", b: "B1", "other/p": "P" });
    const layers = [l0, l1];
    const chain = chainIds(layers.map((l) => l.diffId));
    const top = chain[chain.length - 1] as string;

    const config = blob(
      "application/vnd.oci.image.config.v1+json",
      Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) } })),
    );
    const manifest = blob(
      "application/vnd.oci.image.manifest.v1+json",
      Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: config.descriptor, layers: layers.map((l) => l.descriptor) }),
      ),
    );

    // Pull: everything under one lease.
    const pull = await client.leases.create();
    for (const l of layers) {
      expect(await client.content.write(`layer-${l.descriptor.digest}`, l.descriptor, () => chunks(l.gz), { lease: pull.id })).toEqual({
        outcome: "committed",
        resumedFrom: 0,
      });
    }
    await client.content.write(`config-${config.descriptor.digest}`, config.descriptor, () => chunks(config.data), { lease: pull.id });
    await client.content.write(`manifest-${manifest.descriptor.digest}`, manifest.descriptor, () => chunks(manifest.data), { lease: pull.id });

    // Unpack: each layer applied onto a snapshot of the previous chain, committed under its chain ID.
    for (const [i, l] of layers.entries()) {
      const chainId = chain[i] as string;
      const key = unique(`extract-${chainId}`);
      const mounts = await snapshots.prepare(key, i === 0 ? "" : (chain[i - 1] as string), { lease: pull.id });
      const applied = await client.diff.apply(l.descriptor, mounts, { lease: pull.id });
      expect(applied).toMatchObject({ digest: l.diffId, size: l.tar.byteLength });
      await snapshots.commit(chainId, key, { lease: pull.id });
      await expect(snapshots.stat(key)).rejects.toBeInstanceOf(NotFoundError);
    }
    expect(await snapshots.stat(top)).toMatchObject({ name: top, parent: chain[0], kind: "committed" });
    expect(await snapshots.stat(chain[0] as string)).toMatchObject({ parent: "", kind: "committed" });
    expect((await snapshots.list([`parent==${chain[0]}`])).map((s) => s.name)).toEqual([top]);
    // A second unpack of the same layer loses the race to commit.
    const racer = unique("racer");
    await snapshots.prepare(racer, chain[0] as string, { lease: pull.id });
    await expect(snapshots.commit(top, racer)).rejects.toBeInstanceOf(AlreadyExistsError);
    await snapshots.remove(racer);

    const view = unique("view");
    // Under the lease: any deletion (the racer's remove) sets off a collection that takes unreferenced snapshots.
    const files = await withMounted(await snapshots.view(view, top, { lease: pull.id }), (dir) => tree(dir));
    await snapshots.remove(view);
    expect(files).toEqual({ keep: "K", b: "B1", "dir/": "", "dir/z": "Z", "other/": "", "other/o": "O", "other/p": "P" });

    // The image record and its gc labels: manifest → config and layers, config → top snapshot.
    await client.content.update(manifest.descriptor.digest, {
      "containerd.io/gc.ref.content.config": config.descriptor.digest,
      ...Object.fromEntries(layers.map((l, i) => [`containerd.io/gc.ref.content.l.${i}`, l.descriptor.digest])),
    });
    await client.content.update(config.descriptor.digest, { "containerd.io/gc.ref.snapshot.overlayfs": top });
    const name = `docker.io/library/shoal-test:${process.pid}`;
    const image = await client.images.create({ name, target: manifest.descriptor, labels: { "shoal.test/origin": "int" } });
    expect(image).toMatchObject({ name, target: manifest.descriptor });
    await expect(client.images.create({ name, target: manifest.descriptor })).rejects.toBeInstanceOf(AlreadyExistsError);
    // A second tag, by create-or-replace.
    const tag = `${name}-tag`;
    await client.images.put({ name: tag, target: config.descriptor });
    expect((await client.images.put({ name: tag, target: manifest.descriptor })).target.digest).toBe(manifest.descriptor.digest);
    expect((await client.images.list([`name~=shoal-test:${process.pid}`])).map((i) => i.name).sort()).toEqual([name, tag]);
    await client.images.delete(tag);

    // The pull's lease goes: the image's references keep everything.
    await client.leases.delete(pull.id, { sync: true });
    for (const d of [manifest, config, ...layers].map((b) => b.descriptor.digest)) expect((await client.content.info(d)).digest).toBe(d);
    for (const c of chain) expect((await snapshots.stat(c)).kind).toBe("committed");

    // Run: a container's writable snapshot on the top layer, a gc root of its own.
    const containerKey = unique("container");
    const rootfs = await snapshots.prepare(containerKey, top, { labels: { [GC_ROOT]: new Date().toISOString() } });
    expect(rootfs[0]?.type).toBe("overlay");
    expect(await snapshots.mounts(containerKey)).toEqual(rootfs);
    await expect(snapshots.remove(top)).rejects.toBeInstanceOf(FailedPreconditionError);

    // Remove: the container's snapshot, then the image (sync: containerd collects before answering).
    await snapshots.remove(containerKey);
    await collectGarbage();
    expect((await snapshots.stat(top)).kind).toBe("committed");
    await client.images.delete(name, { sync: true });
    for (const d of [manifest, config, ...layers].map((b) => b.descriptor.digest)) await expectGone(d);
    for (const c of chain) await expect(snapshots.stat(c)).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.images.get(name)).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.images.delete(name)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("a container snapshot outlives the image it came from, and keeps its parent snapshots", async () => {
    const snapshots = client.snapshots();
    const l0 = await layer({ f: "F" });
    const pull = await client.leases.create();
    await client.content.write(`layer-${l0.descriptor.digest}`, l0.descriptor, () => chunks(l0.gz), { lease: pull.id });
    const key = unique("extract");
    await client.diff.apply(l0.descriptor, await snapshots.prepare(key, "", { lease: pull.id }), { lease: pull.id });
    await snapshots.commit(l0.diffId, key, { lease: pull.id });
    const containerKey = unique("container");
    await snapshots.prepare(containerKey, l0.diffId, { labels: { [GC_ROOT]: "1" } });

    await client.leases.delete(pull.id, { sync: true });
    await expectGone(l0.descriptor.digest);
    expect((await snapshots.stat(l0.diffId)).kind).toBe("committed");
    expect((await snapshots.stat(containerKey)).kind).toBe("active");

    await snapshots.remove(containerKey);
    await collectGarbage();
    await expect(snapshots.stat(l0.diffId)).rejects.toBeInstanceOf(NotFoundError);
  });
});
