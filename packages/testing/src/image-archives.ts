import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { tarBuffer } from "./tar-writer";
import type { TarEntry } from "./tar-writer";
import type { TestImage } from "./test-image";

/**
 * Writes `image` as `docker save` (Docker ≤ 24, the "legacy" layout) writes it, to `file`:
 * one directory per layer `<id>/` with `VERSION` (`1.0`), `json` (the v1 layer record) and
 * `layer.tar` (uncompressed), the config as `<config hex>.json`, `manifest.json`
 * (`[{"Config", "RepoTags", "Layers"}]`) and `repositories` (`{"<repo>": {"<tag>": "<top layer id>"}}`).
 *
 * `repoTags` are familiar references with a tag (`busybox:latest`, `localhost:5000/x:t`);
 * none gives an untagged save (`RepoTags: null`, no `repositories` entry), as saving by id does.
 * Layer ids are sha256 of the parent id and the diff ID, stable but not the ids Docker
 * would compute (a load only follows manifest.json).
 */
export async function writeDockerSaveArchive(image: TestImage, file: string, opts: { repoTags?: readonly string[] } = {}): Promise<void> {
  const entries: TarEntry[] = [];
  const layerPaths: string[] = [];
  let parent = "";
  for (const layer of image.layers) {
    const id = createHash("sha256").update(`${parent}\n${layer.diffId}`).digest("hex");
    const v1 = { id, ...(parent !== "" ? { parent } : {}), created: "1970-01-01T00:00:00Z", container_config: {}, os: image.platform.os };
    entries.push(
      { type: "dir", path: id },
      { type: "file", path: `${id}/VERSION`, content: "1.0" },
      { type: "file", path: `${id}/json`, content: JSON.stringify(v1) },
      { type: "file", path: `${id}/layer.tar`, content: layer.tar },
    );
    layerPaths.push(`${id}/layer.tar`);
    parent = id;
  }
  const configName = `${hexOf(image.configDescriptor.digest)}.json`;
  entries.push({ type: "file", path: configName, content: image.configBlob });
  const repoTags = opts.repoTags ?? [];
  entries.push({
    type: "file",
    path: "manifest.json",
    content: JSON.stringify([{ Config: configName, RepoTags: repoTags.length > 0 ? repoTags : null, Layers: layerPaths }]),
  });
  const repositories: Record<string, Record<string, string>> = {};
  for (const repoTag of repoTags) {
    const at = repoTag.lastIndexOf(":");
    if (at <= repoTag.lastIndexOf("/")) throw new Error(`repoTags need a tag: ${repoTag}`);
    (repositories[repoTag.slice(0, at)] ??= {})[repoTag.slice(at + 1)] = parent;
  }
  if (repoTags.length > 0) entries.push({ type: "file", path: "repositories", content: JSON.stringify(repositories) });
  await writeFile(file, tarBuffer(entries));
}

/**
 * Writes `image` as an OCI image layout in a tar to `file`: `oci-layout`
 * (`{"imageLayoutVersion":"1.0.0"}`), `index.json` with one manifest descriptor, and every
 * blob (config, gzip'd layers, manifest) under `blobs/sha256/<hex>`. The descriptor is
 * annotated with `org.opencontainers.image.ref.name` = `refName` (the tag, e.g. `latest`)
 * and, when given, `io.containerd.image.name` = `imageName` (a full reference), as
 * `ctr images export` writes them. The manifest keeps the image's media types (Docker or OCI).
 */
export async function writeOciArchive(image: TestImage, file: string, opts: { refName?: string; imageName?: string } = {}): Promise<void> {
  const annotations: Record<string, string> = {};
  if (opts.imageName !== undefined) annotations["io.containerd.image.name"] = opts.imageName;
  if (opts.refName !== undefined) annotations["org.opencontainers.image.ref.name"] = opts.refName;
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{ ...image.manifestDescriptor, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) }],
  };
  const entries: TarEntry[] = [
    { type: "file", path: "oci-layout", content: JSON.stringify({ imageLayoutVersion: "1.0.0" }) },
    { type: "file", path: "index.json", content: JSON.stringify(index) },
    { type: "dir", path: "blobs" },
    { type: "dir", path: "blobs/sha256" },
  ];
  const seen = new Set<string>();
  const blob = (digest: string, content: Buffer) => {
    if (seen.has(digest)) return;
    seen.add(digest);
    entries.push({ type: "file", path: `blobs/sha256/${hexOf(digest)}`, content });
  };
  for (const layer of image.layers) blob(layer.descriptor.digest, layer.blob);
  blob(image.configDescriptor.digest, image.configBlob);
  blob(image.manifestDescriptor.digest, image.manifest);
  await writeFile(file, tarBuffer(entries));
}

function hexOf(digest: string): string {
  return digest.replace(/^sha256:/, "");
}
