/**
 * `pull`, `images`, `rmi`, `image inspect`, `tag`, `login` and `logout`, printed as
 * Docker's CLI prints them. Credentials live in `$SHOAL_CONFIG/config.json` (default
 * `~/.shoal/config.json`) in Docker's `config.json` shape: `{"auths": {"<registry>":
 * {"auth": base64("user:password")}}}`, mode 0600.
 */
import type { ImageInfo, PullProgress } from "./api-types";
import { formatTable, humanDuration, timestampToMs } from "./format-output";
import type { ShoalApi } from "./shoal-api-client";

export interface ImageIo {
  stdout: { write(chunk: string): unknown; isTTY?: boolean };
  stderr: { write(chunk: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
  now(): Date;
}

// ---- credentials ------------------------------------------------------------------------

/** Docker Hub's key in config.json, as Docker's CLI writes it. */
const DOCKER_HUB_KEY = "https://index.docker.io/v1/";

function configPath(env: ImageIo["env"]): string {
  const dir = env.SHOAL_CONFIG ?? `${env.HOME ?? "/root"}/.shoal`;
  return `${dir}/config.json`;
}

/** The registry host a reference names (Docker's rule: a first component with `.` or `:`, or `localhost`). */
export function registryOf(reference: string): string {
  const slash = reference.indexOf("/");
  if (slash < 0) return "docker.io";
  const first = reference.slice(0, slash);
  return first === "localhost" || /[.:]/.test(first) ? first : "docker.io";
}

function authKey(server: string): string {
  const host = server.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  return host === "docker.io" || host === "index.docker.io" || host === "registry-1.docker.io" ? DOCKER_HUB_KEY : host;
}

type ConfigFile = { auths?: Record<string, { auth?: string }> } & Record<string, unknown>;

async function readConfig(env: ImageIo["env"]): Promise<ConfigFile> {
  const { readFile } = await import("node:fs/promises");
  try {
    return JSON.parse(await readFile(configPath(env), "utf8")) as ConfigFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new Error(`cannot read ${configPath(env)}: ${(err as Error).message}`);
  }
}

async function writeConfig(env: ImageIo["env"], config: ConfigFile): Promise<void> {
  const { mkdir, rename, writeFile } = await import("node:fs/promises");
  const { dirname } = await import("node:path");
  const path = configPath(env);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(`${path}.tmp`, `${JSON.stringify(config, null, "\t")}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/** The stored credentials for the registry `reference` names, if any. */
export async function credentialsFor(env: ImageIo["env"], reference: string): Promise<{ username: string; password: string } | undefined> {
  const auth = (await readConfig(env)).auths?.[authKey(registryOf(reference))]?.auth;
  if (auth === undefined || auth === "") return undefined;
  const text = Buffer.from(auth, "base64").toString("utf8");
  const colon = text.indexOf(":");
  return colon < 0 ? undefined : { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

export async function login(io: ImageIo, server: string, username: string, password: string): Promise<number> {
  const config = await readConfig(io.env);
  config.auths = { ...(config.auths ?? {}), [authKey(server)]: { auth: Buffer.from(`${username}:${password}`).toString("base64") } };
  await writeConfig(io.env, config);
  io.stdout.write("Login Succeeded\n");
  return 0;
}

export async function logout(io: ImageIo, server: string): Promise<number> {
  const config = await readConfig(io.env);
  const key = authKey(server);
  if (config.auths?.[key] === undefined) {
    io.stdout.write(`Not logged in to ${server}\n`);
    return 0;
  }
  delete config.auths[key];
  await writeConfig(io.env, config);
  io.stdout.write(`Removing login credentials for ${server}\n`);
  return 0;
}

// ---- pull ---------------------------------------------------------------------------------

/**
 * Pulls `reference`, printing Docker's lines: per-layer progress bars redrawn in place on a
 * TTY, plain status lines otherwise (no byte counts), then the digest, the status and the
 * canonical name. `quiet` prints only the name. Returns the pulled image.
 */
export async function pull(api: ShoalApi, io: ImageIo, req: { reference: string; host: string; quiet: boolean }): Promise<ImageInfo | null> {
  const auth = await credentialsFor(io.env, req.reference);
  const tagless = !/[:@][^/]*$/.test(req.reference);
  if (tagless && !req.quiet) io.stdout.write("Using default tag: latest\n");
  const tty = io.stdout.isTTY === true && !req.quiet;
  const bars = tty ? new ProgressBars(io.stdout) : undefined;
  let last: PullProgress | undefined;
  let downloaded = false;
  for await (const line of api.pullImage({ reference: req.reference, host: req.host, ...(auth ? { auth } : {}) })) {
    if (line.done) {
      last = line;
      break;
    }
    if (line.status === "Downloading" || line.status === "Pull complete") downloaded = true;
    if (req.quiet) continue;
    if (bars !== undefined) bars.update(line);
    else if (line.status !== "Downloading" && line.status !== "Extracting") io.stdout.write(`${line.id}: ${line.status}\n`);
  }
  if (last === undefined) throw new Error("the pull ended without an answer");
  const canonical = canonicalName(req.reference);
  if (!req.quiet) {
    if (last.digest !== "") io.stdout.write(`Digest: ${last.digest}\n`);
    const familiar = familiarOf(req.reference);
    // The api says which (the name now names another image, or not); an older api does not.
    const status = last.status !== "" ? last.status : downloaded ? "Downloaded newer image" : "Image is up to date";
    io.stdout.write(`Status: ${status} for ${familiar}\n`);
  }
  io.stdout.write(`${canonical}\n`);
  return last.image;
}

/** `busybox` → `docker.io/library/busybox:latest` (what `docker pull` prints last). */
export function canonicalName(reference: string): string {
  let ref = reference;
  if (!/[:@][^/]*$/.test(ref)) ref = `${ref}:latest`;
  if (registryOf(ref) !== "docker.io") return ref;
  if (ref.startsWith("docker.io/")) ref = ref.slice("docker.io/".length);
  return `docker.io/${ref.includes("/") ? ref : `library/${ref}`}`;
}

/** `docker.io/library/busybox` → `busybox:latest` (the name Docker's messages print). */
export function familiarOf(reference: string): string {
  let ref = reference;
  if (!/[:@][^/]*$/.test(ref)) ref = `${ref}:latest`;
  return ref.replace(/^docker\.io\//, "").replace(/^library\/(?=[^/]*$)/, "");
}

/** Docker's TTY progress: one line per layer, redrawn in place. */
class ProgressBars {
  private readonly order: string[] = [];
  private readonly text = new Map<string, string>();
  constructor(private readonly out: { write(chunk: string): unknown }) {}

  update(p: PullProgress): void {
    const current = Number(p.current);
    const total = Number(p.total);
    const bar = total > 0 && (p.status === "Downloading" || p.status === "Extracting") ? ` ${progressBar(current, total)}` : "";
    const line = `${p.id}: ${p.status}${bar}`;
    const at = this.order.indexOf(p.id);
    if (at < 0) {
      this.order.push(p.id);
      this.text.set(p.id, line);
      this.out.write(`${line}\n`);
      return;
    }
    this.text.set(p.id, line);
    const up = this.order.length - at;
    // Up to the layer's line, clear it, rewrite, back down.
    this.out.write(`\x1b[${up}A\x1b[2K\r${line}\x1b[${up}B\r`);
  }
}

function progressBar(current: number, total: number): string {
  const width = 50;
  const filled = Math.min(width, Math.floor((current / total) * width));
  const arrow = filled < width ? ">" : "";
  return `[${"=".repeat(Math.max(0, filled - (arrow ? 1 : 0)))}${arrow}${" ".repeat(width - filled)}]  ${siSize(current)}/${siSize(total)}`;
}

/** go-units' HumanSize: decimal units, 3 significant digits ("4.26MB"). */
export function siSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${Number(value.toPrecision(3))}${units[unit]}`;
}

// ---- images -------------------------------------------------------------------------------

export interface ImagesOptions {
  quiet: boolean;
  noTrunc: boolean;
  digests: boolean;
  format: "table" | "json";
}

function shortImageId(id: string, noTrunc: boolean): string {
  return noTrunc ? id : id.replace(/^sha256:/, "").slice(0, 12);
}

/** One row per tag (`<none>` for an untagged image), as `docker images`. */
function imageRows(images: readonly ImageInfo[]): Array<{ image: ImageInfo; repository: string; tag: string; digest: string }> {
  const rows: Array<{ image: ImageInfo; repository: string; tag: string; digest: string }> = [];
  for (const image of images) {
    const digestOf = (repo: string) => image.repo_digests.find((d) => d.startsWith(`${repo}@`))?.replace(/^[^@]*@/, "") ?? "<none>";
    if (image.repo_tags.length === 0) {
      const digested = image.repo_digests[0];
      rows.push({ image, repository: digested?.replace(/@.*$/, "") ?? "<none>", tag: "<none>", digest: digested?.replace(/^[^@]*@/, "") ?? "<none>" });
      continue;
    }
    for (const tagged of image.repo_tags) {
      const at = tagged.lastIndexOf(":");
      const repository = tagged.slice(0, at);
      rows.push({ image, repository, tag: tagged.slice(at + 1), digest: digestOf(repository) });
    }
  }
  return rows;
}

export function formatImages(images: readonly ImageInfo[], now: Date, o: ImagesOptions): string {
  if (o.quiet) return [...new Set(images.map((i) => shortImageId(i.id, o.noTrunc)))].map((id) => `${id}\n`).join("");
  const rows = imageRows(images);
  if (o.format === "json") {
    return rows
      .map(
        (r) =>
          `${JSON.stringify({
            Containers: "N/A",
            CreatedAt: createdText(r.image, now, true),
            CreatedSince: createdText(r.image, now, false),
            Digest: r.digest,
            ID: shortImageId(r.image.id, o.noTrunc),
            Repository: r.repository,
            Size: siSize(Number(r.image.size_bytes)),
            Tag: r.tag,
            Hosts: r.image.hosts,
          })}\n`,
      )
      .join("");
  }
  const headers = o.digests ? ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"] : ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"];
  return formatTable(
    headers,
    rows.map((r) => {
      const cells = [r.repository, r.tag, shortImageId(r.image.id, o.noTrunc), createdText(r.image, now, false), siSize(Number(r.image.size_bytes))];
      if (o.digests) cells.splice(2, 0, r.digest);
      return cells;
    }),
  );
}

function createdText(image: ImageInfo, now: Date, absolute: boolean): string {
  const ms = timestampToMs(image.created);
  if (ms === undefined) return "N/A";
  return absolute ? new Date(ms).toISOString() : `${humanDuration(now.getTime() - ms)} ago`;
}

/** `docker image inspect`'s shape for the fields Shoal has, plus `Hosts`. */
export function imageInspectObject(i: ImageInfo): Record<string, unknown> {
  const c = i.config;
  const ms = timestampToMs(i.created);
  return {
    Id: i.id,
    RepoTags: i.repo_tags,
    RepoDigests: i.repo_digests,
    Created: ms === undefined ? "" : new Date(ms).toISOString(),
    Config: {
      User: c?.user ?? "",
      Env: c?.env.length ? c.env : null,
      Cmd: c?.cmd.length ? c.cmd : null,
      WorkingDir: c?.working_dir ?? "",
      Entrypoint: c?.entrypoint.length ? c.entrypoint : null,
      Labels: c && Object.keys(c.labels).length > 0 ? c.labels : null,
      ...(c?.stop_signal ? { StopSignal: c.stop_signal } : {}),
    },
    Architecture: i.architecture,
    Os: i.os,
    Size: Number(i.size_bytes),
    RootFS: { Type: "layers", Layers: i.diff_ids },
    Hosts: i.hosts,
  };
}
