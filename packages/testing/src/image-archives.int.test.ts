import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeDockerSaveArchive, writeOciArchive } from "./image-archives";
import { buildTestImage } from "./test-image";
import type { TestImage } from "./test-image";

const execFileAsync = promisify(execFile);
const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

// GNU tar reads what the writers wrote: the archives and the layers are plain ustar.
describe("test image archives", () => {
  let dir: string;
  let image: TestImage;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "shoal-archives-"));
    image = await buildTestImage();
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("layers are tars whose digest is the config's diff ID, with the whiteout and the opaque marker", async () => {
    const diffIds = (image.config.rootfs as { diff_ids: string[] }).diff_ids;
    expect(image.layers.map((l) => l.diffId)).toEqual(diffIds);
    const top = join(dir, "top.tar");
    await writeFile(top, image.layers[2]?.tar ?? Buffer.alloc(0));
    const { stdout } = await execFileAsync("tar", ["-tvf", top]);
    expect(stdout).toContain("data/.wh.delete.txt");
    expect(stdout).toContain("opq/.wh..wh..opq");
    const layer2 = join(dir, "l2.tar");
    await writeFile(layer2, image.layers[1]?.tar ?? Buffer.alloc(0));
    const { stdout: owners } = await execFileAsync("tar", ["--numeric-owner", "-tvf", layer2]);
    expect(owners).toMatch(/drwxr-xr-x 1000\/1000 .* app\//);
    expect(owners).toMatch(/-rwxr-xr-x 1000\/1000 .* app\/run\.sh/);
    expect(image.config.config).toMatchObject({ Entrypoint: ["/bin/sh", "-c"], WorkingDir: "/app", User: "1000:1000", StopSignal: "SIGUSR1" });
  });

  it("docker save format: manifest.json, repositories, <id>/layer.tar matching the diff IDs", async () => {
    const file = join(dir, "save.tar");
    await writeDockerSaveArchive(image, file, { repoTags: ["shoal/test:v1"] });
    const out = join(dir, "save");
    await mkdir(out);
    await execFileAsync("tar", ["-xf", file, "-C", out]);
    const manifest = JSON.parse(await readFile(join(out, "manifest.json"), "utf8")) as { Config: string; RepoTags: string[]; Layers: string[] }[];
    expect(manifest).toHaveLength(1);
    const [entry] = manifest;
    expect(entry?.RepoTags).toEqual(["shoal/test:v1"]);
    expect(entry?.Config).toBe(`${image.configDescriptor.digest.slice(7)}.json`);
    expect(sha256(await readFile(join(out, entry?.Config ?? "")))).toBe(image.configDescriptor.digest);
    const layerDigests = await Promise.all((entry?.Layers ?? []).map(async (p) => sha256(await readFile(join(out, p)))));
    expect(layerDigests).toEqual(image.layers.map((l) => l.diffId));
    const repositories = JSON.parse(await readFile(join(out, "repositories"), "utf8")) as Record<string, Record<string, string>>;
    expect(repositories["shoal/test"]?.v1).toBe(entry?.Layers.at(-1)?.split("/")[0]);
  });

  it("OCI layout: oci-layout, index.json naming the manifest, every blob under its digest", async () => {
    const file = join(dir, "oci.tar");
    await writeOciArchive(image, file, { refName: "v1", imageName: "docker.io/shoal/test:v1" });
    const out = join(dir, "oci");
    await mkdir(out);
    await execFileAsync("tar", ["-xf", file, "-C", out]);
    expect(JSON.parse(await readFile(join(out, "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
    const index = JSON.parse(await readFile(join(out, "index.json"), "utf8")) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    expect(index.manifests[0]?.digest).toBe(image.manifestDescriptor.digest);
    expect(index.manifests[0]?.annotations["org.opencontainers.image.ref.name"]).toBe("v1");
    const blobs = await readdir(join(out, "blobs/sha256"));
    expect(blobs.sort()).toEqual(
      [image.manifestDescriptor, image.configDescriptor, ...image.layers.map((l) => l.descriptor)].map((d) => d.digest.slice(7)).sort(),
    );
    for (const hex of blobs) expect(sha256(await readFile(join(out, "blobs/sha256", hex)))).toBe(`sha256:${hex}`);
  });
});
