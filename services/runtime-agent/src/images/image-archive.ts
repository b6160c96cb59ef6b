import { createHash, randomUUID } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join, normalize } from "node:path";
import { pipeline } from "node:stream/promises";
import { create, extract } from "tar";
import {
  InvalidArgumentError,
  MEDIA_TYPE_DOCKER_CONFIG,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_OCI_INDEX,
  chooseManifest,
  familiarString,
  isIndexMediaType,
  parseImageReference,
  referenceString,
} from "@shoal/domain";
import type { Descriptor, ImageIndex, ImageManifest } from "@shoal/domain";
import { platformOfHost } from "@shoal/registry";
import type { AgentContext } from "../agent-context";
import { findImage, readBlob } from "./local-images";
import type { LocalImage } from "./local-images";
import { storeImage } from "./store-image";

// `shoal load` and `shoal save` on this host: the two archive formats Docker reads and
// writes. A `docker save` archive holds `manifest.json` (each image's config file, its
// RepoTags and its layer tars, uncompressed) beside those files; an OCI image layout holds
// `oci-layout`, `index.json` and `blobs/sha256/<hex>`. A load stores each image as a pull
// does (store-image.ts: content, snapshots, then records); a save writes both at once, an
// OCI layout whose `manifest.json` names the same blobs, as Docker 25 does.

/** Docker's uncompressed layer media type (what a `docker save` layer tar is). */
const MEDIA_TYPE_DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar";
const REF_NAME = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME = "io.containerd.image.name";

/**
 * Loads the archive at `file` (unpacked below `scratch` first). Answers Docker's lines:
 * "Loaded image: <name>" per name, "Loaded image ID: <id>" for an image without one.
 * InvalidArgumentError for an archive that is neither format, is truncated, or names a file it
 * does not hold; nothing is recorded then (what was written is freed with its lease).
 */
export async function loadArchive(ctx: AgentContext, file: string): Promise<string[]> {
  const dir = join(ctx.stateRoot, "tmp", `load-${randomUUID()}`);
  await mkdir(dir, { recursive: true });
  try {
    try {
      await extract({ file, cwd: dir, strict: true, preservePaths: false, noChmod: true });
    } catch (err) {
      throw new InvalidArgumentError(`Error processing tar file: ${(err as Error).message}`, { cause: err });
    }
    if (existsSync(join(dir, "index.json")) && existsSync(join(dir, "oci-layout"))) return await loadOciLayout(ctx, dir);
    if (existsSync(join(dir, "manifest.json"))) return await loadDockerSave(ctx, dir);
    throw new InvalidArgumentError("invalid archive: it holds neither manifest.json (docker save) nor index.json and oci-layout (an OCI image layout)");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function loadDockerSave(ctx: AgentContext, dir: string): Promise<string[]> {
  const manifest = (await readJson(dir, "manifest.json")) as Array<{ Config: string; RepoTags?: string[] | null; Layers: string[] }>;
  if (!Array.isArray(manifest)) throw new InvalidArgumentError("invalid archive: manifest.json is not a list of images");
  const loaded: string[] = [];
  for (const entry of manifest) {
    const configBytes = await readInside(dir, entry.Config);
    const config = { desc: { mediaType: MEDIA_TYPE_DOCKER_CONFIG, digest: sha256(configBytes), size: configBytes.length }, bytes: configBytes };
    const layerFiles = entry.Layers.map((l) => inside(dir, l));
    const layers: Descriptor[] = [];
    for (const f of layerFiles) layers.push({ mediaType: await layerMediaType(f), digest: await fileDigest(f), size: (await stat(f)).size });
    const manifestBytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_DOCKER_MANIFEST, config: config.desc, layers }),
    );
    const names = (entry.RepoTags ?? []).map((t) => referenceString(parseImageReference(t)));
    await storeImage(
      ctx,
      {
        names,
        why: "shoal.load",
        manifest: { desc: { mediaType: MEDIA_TYPE_DOCKER_MANIFEST, digest: sha256(manifestBytes), size: manifestBytes.length }, bytes: manifestBytes, layers },
        config,
        layer: (i) => async () => createReadStream(layerFiles[i]!),
      },
      () => undefined,
    );
    loaded.push(...(names.length > 0 ? names.map((n) => `Loaded image: ${familiarString(parseImageReference(n))}`) : [`Loaded image ID: ${config.desc.digest}`]));
  }
  return loaded;
}

async function loadOciLayout(ctx: AgentContext, dir: string): Promise<string[]> {
  const index = (await readJson(dir, "index.json")) as ImageIndex;
  const loaded: string[] = [];
  for (const entry of index.manifests ?? []) {
    const name = entry.annotations?.[CONTAINERD_NAME] ?? entry.annotations?.[REF_NAME];
    const topBytes = await readBlobFile(dir, entry);
    let manifestDesc: Descriptor = entry;
    let manifestBytes = topBytes;
    let nested: { desc: Descriptor; bytes: Uint8Array } | undefined;
    if (isIndexMediaType(entry.mediaType)) {
      nested = { desc: entry, bytes: topBytes };
      manifestDesc = chooseManifest(JSON.parse(topBytes.toString("utf8")) as ImageIndex, platformOfHost());
      manifestBytes = await readBlobFile(dir, manifestDesc);
    }
    const manifest = JSON.parse(manifestBytes.toString("utf8")) as ImageManifest;
    const configBytes = await readBlobFile(dir, manifest.config);
    // A bare tag (`v1`) in ref.name has no repository: such an image loads untagged, as Docker's does.
    const names = name !== undefined && /[/:]/.test(name) ? [referenceString(parseImageReference(name))] : [];
    await storeImage(
      ctx,
      {
        names,
        why: "shoal.load",
        ...(nested !== undefined ? { index: nested } : {}),
        manifest: { desc: manifestDesc, bytes: manifestBytes, layers: manifest.layers },
        config: { desc: manifest.config, bytes: configBytes },
        layer: (i) => async () => createReadStream(blobPath(dir, manifest.layers[i]!.digest)),
      },
      () => undefined,
    );
    loaded.push(...(names.length > 0 ? names.map((n) => `Loaded image: ${familiarString(parseImageReference(n))}`) : [`Loaded image ID: ${manifest.config.digest}`]));
  }
  return loaded;
}

/**
 * Writes the images `names` name into one archive at `file`: an OCI image layout (each
 * image's index or manifest in index.json, named) with Docker's `manifest.json` beside it.
 * NotFoundError "No such image: <name>" for a name this host does not hold.
 */
export async function saveArchive(ctx: AgentContext, names: readonly string[], file: string): Promise<void> {
  const dir = join(ctx.stateRoot, "tmp", `save-${randomUUID()}`);
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  try {
    const indexEntries: Descriptor[] = [];
    const dockerManifest: Array<{ Config: string; RepoTags: string[]; Layers: string[] }> = [];
    const written = new Set<string>();
    const put = async (digest: string) => {
      if (written.has(digest)) return;
      written.add(digest);
      await pipeline(ctx.containerd.content.read(digest), (await import("node:fs")).createWriteStream(blobPath(dir, digest)));
    };
    for (const name of names) {
      const images = await findImage(ctx.containerd, name);
      const image: LocalImage = images[0]!;
      const tags = isTagReference(name) ? [referenceString(parseImageReference(name))] : images.map((i) => i.record.name).filter(isTagReference);
      await put(image.manifestDigest);
      await put(image.configDigest);
      for (const l of image.manifest.layers) await put(l.digest);
      const manifestDesc = { mediaType: image.manifest.mediaType ?? MEDIA_TYPE_DOCKER_MANIFEST, digest: image.manifestDigest, size: (await readBlob(ctx.containerd, image.manifestDigest)).length };
      for (const tag of tags.length > 0 ? tags : [undefined]) {
        indexEntries.push({ ...manifestDesc, ...(tag !== undefined ? { annotations: { [CONTAINERD_NAME]: tag, [REF_NAME]: parseImageReference(tag).tag ?? "latest" } } : {}) });
      }
      dockerManifest.push({
        Config: `blobs/sha256/${image.configDigest.slice(7)}`,
        RepoTags: tags.map((t) => familiarString(parseImageReference(t))),
        Layers: image.manifest.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
      });
    }
    await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    await writeFile(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: indexEntries }));
    await writeFile(join(dir, "manifest.json"), JSON.stringify(dockerManifest));
    await create({ file, cwd: dir, portable: true, noMtime: true }, ["oci-layout", "index.json", "manifest.json", "blobs"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function isTagReference(name: string): boolean {
  try {
    const ref = parseImageReference(name);
    return ref.digest === undefined && !/^(sha256:)?[0-9a-f]{12,64}$/.test(name);
  } catch {
    return false;
  }
}

/** A path the archive names, refused when it leaves the archive. */
function inside(dir: string, path: string): string {
  const full = normalize(join(dir, path));
  if (!full.startsWith(`${dir}/`)) throw new InvalidArgumentError(`invalid archive: ${path} is outside the archive`);
  if (!existsSync(full)) throw new InvalidArgumentError(`invalid archive: it names ${path}, which it does not hold (truncated?)`);
  return full;
}

async function readInside(dir: string, path: string): Promise<Buffer> {
  return readFile(inside(dir, path));
}

async function readJson(dir: string, path: string): Promise<unknown> {
  try {
    return JSON.parse((await readInside(dir, path)).toString("utf8"));
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    throw new InvalidArgumentError(`invalid archive: ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function blobPath(dir: string, digest: string): string {
  return join(dir, "blobs", "sha256", digest.replace(/^sha256:/, ""));
}

/** A blob of an OCI layout, its digest checked. */
async function readBlobFile(dir: string, desc: Descriptor): Promise<Buffer> {
  const bytes = await readInside(dir, `blobs/sha256/${desc.digest.replace(/^sha256:/, "")}`);
  if (sha256(bytes) !== desc.digest) throw new InvalidArgumentError(`invalid archive: blob ${desc.digest} does not match its digest`);
  return bytes;
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

async function fileDigest(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}

/** A `docker save` layer is an uncompressed tar; Docker 25's layouts may hold gzip'd ones. */
async function layerMediaType(file: string): Promise<string> {
  const head = Buffer.alloc(2);
  const fd = await (await import("node:fs/promises")).open(file, "r");
  try {
    await fd.read(head, 0, 2, 0);
  } finally {
    await fd.close();
  }
  return head[0] === 0x1f && head[1] === 0x8b ? "application/vnd.docker.image.rootfs.diff.tar.gzip" : MEDIA_TYPE_DOCKER_LAYER_TAR;
}
