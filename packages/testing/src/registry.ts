import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Descriptor } from "@shoal/domain";
import { TOKEN_ISSUER, TOKEN_SERVICE, startTokenServer } from "./registry-token-server";
import type { TokenServer } from "./registry-token-server";
import type { TestImage, TestIndex } from "./test-image";

const execFileAsync = promisify(execFile);

const REGISTRY_BIN = "/usr/bin/docker-registry";
const HTPASSWD_BIN = "/usr/bin/htpasswd";
const LIB_SH = fileURLToPath(new URL("../../../scripts/lib.sh", import.meta.url));

/** A user name and password the registry's htpasswd accepts. */
export interface TestRegistryAuth {
  readonly username: string;
  readonly password: string;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`: the domain of references to this registry (`127.0.0.1:PORT/name:tag`). */
  readonly host: string;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The credentials it accepts, when started with auth. */
  readonly auth?: TestRegistryAuth;
  /** How it asks for them: `basic` (htpasswd) or `bearer` (a token server beside it); none without auth. */
  readonly authScheme?: "basic" | "bearer";
  /** With `bearer`: the token server's requests (scope, user, granted), for tests of token caching. */
  readonly tokenRequests?: readonly { scope: string; user: string | undefined; granted: boolean }[];
  /** The Authorization header a pusher sends to push to `repository` (undefined without auth). */
  pushAuthorization(repository: string): string | undefined;
  /** Root of its filesystem storage. */
  readonly storageDir: string;
  /** Its log (access log and warnings). */
  readonly logFile: string;
  /** Where the registry keeps a blob's bytes; overwrite it to serve tampered content. */
  blobDataPath(digest: string): string;
  /** Stops the registry (SIGTERM, SIGKILL after 5 s) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts Debian's `docker-registry` (distribution 2.8) on a free 127.0.0.1 port, storing in a
 * new temporary directory. With `auth`, only that user may pull and push, over plain HTTP:
 * - `authScheme: "basic"` (default): htpasswd (bcrypt, made by `htpasswd -B`); the registry
 *   answers `401` with `WWW-Authenticate: Basic realm="shoal-test"`.
 * - `authScheme: "bearer"`: a token server (startTokenServer, in this process) beside it; the
 *   registry answers `401` with `Bearer realm="http://127.0.0.1:P/token",service=…,scope=…`
 *   and verifies the tokens' signatures against the server's certificate.
 * Resolves once `/v2/` answers.
 *
 * Installs `docker-registry` (and `apache2-utils` for auth) through scripts/lib.sh's
 * `ensure_apt` when missing; fails naming the package when that does not work, and with the
 * tail of the registry's log when it exits or does not answer within 15 s. Callers must
 * `stop()` it in `afterAll`.
 */
export async function startRegistry(opts: { auth?: TestRegistryAuth; authScheme?: "basic" | "bearer" } = {}): Promise<TestRegistry> {
  const scheme = opts.auth === undefined ? undefined : (opts.authScheme ?? "basic");
  await ensureInstalled(REGISTRY_BIN, "docker-registry");
  if (scheme === "basic") await ensureInstalled(HTPASSWD_BIN, "apache2-utils");
  const dir = await mkdtemp(join(tmpdir(), "shoal-registry-"));
  let tokenServer: TokenServer | undefined;
  try {
    let htpasswdPath: string | undefined;
    if (scheme === "bearer" && opts.auth !== undefined) tokenServer = await startTokenServer(dir, opts.auth);
    if (scheme === "basic" && opts.auth !== undefined) {
      htpasswdPath = join(dir, "htpasswd");
      const { stdout } = await execFileAsync(HTPASSWD_BIN, ["-nbB", opts.auth.username, opts.auth.password]);
      await writeFile(htpasswdPath, stdout.trim() + "\n");
    }
    // A port found free may be taken before the registry binds it: try a few.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const instance = new RegistryInstance(dir, port, opts.auth, scheme, tokenServer);
      await writeFile(instance.configFile, registryConfig(instance.storageDir, port, htpasswdPath, tokenServer));
      try {
        await instance.start();
        return instance;
      } catch (err) {
        await instance.stopProcess();
        if (attempt >= 3 || !/address already in use/.test(String(err))) throw err;
      }
    }
  } catch (err) {
    await tokenServer?.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function registryConfig(storage: string, port: number, htpasswd: string | undefined, tokenServer: TokenServer | undefined): string {
  const lines = [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog:",
    "    disabled: false",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(storage)}`,
    "  delete:",
    "    enabled: true",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString("hex")}`,
  ];
  if (htpasswd !== undefined) {
    lines.push("auth:", "  htpasswd:", "    realm: shoal-test", `    path: ${JSON.stringify(htpasswd)}`);
  }
  if (tokenServer !== undefined) {
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${JSON.stringify(tokenServer.realm)}`,
      `    service: ${TOKEN_SERVICE}`,
      `    issuer: ${TOKEN_ISSUER}`,
      `    rootcertbundle: ${JSON.stringify(tokenServer.certFile)}`,
    );
  }
  return lines.join("\n") + "\n";
}

class RegistryInstance implements TestRegistry {
  readonly host: string;
  readonly url: string;
  readonly storageDir: string;
  readonly logFile: string;
  readonly configFile: string;
  private child: ChildProcess | undefined;
  private stopped = false;

  constructor(
    private readonly dir: string,
    port: number,
    readonly auth: TestRegistryAuth | undefined,
    readonly authScheme: "basic" | "bearer" | undefined,
    private readonly tokenServer: TokenServer | undefined,
  ) {
    this.host = `127.0.0.1:${port}`;
    this.url = `http://${this.host}`;
    this.storageDir = join(dir, "storage");
    this.logFile = join(dir, "registry.log");
    this.configFile = join(dir, "config.yml");
  }

  get tokenRequests(): TokenServer["requests"] | undefined {
    return this.tokenServer?.requests;
  }

  pushAuthorization(repository: string): string | undefined {
    if (this.tokenServer !== undefined) return `Bearer ${this.tokenServer.mint(`repository:${repository}:pull,push`)}`;
    return this.auth === undefined ? undefined : basicAuthorization(this.auth);
  }

  blobDataPath(digest: string): string {
    const hex = digest.replace(/^sha256:/, "");
    return join(this.storageDir, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
  }

  async start(): Promise<void> {
    const log = await open(this.logFile, "w");
    try {
      const child = spawn(REGISTRY_BIN, ["serve", this.configFile], { stdio: ["ignore", log.fd, log.fd] });
      this.child = child;
      let exited: string | undefined;
      child.once("exit", (code, signal) => {
        exited = `exited with ${code ?? signal}`;
      });
      child.once("error", (err) => {
        exited = `could not start: ${err.message}`;
      });
      const deadline = Date.now() + 15_000;
      for (;;) {
        if (exited !== undefined) throw new Error(`docker-registry on ${this.host} ${exited}:\n${await this.logTail()}`);
        const status = await fetch(`${this.url}/v2/`).then(
          (r) => r.status,
          () => 0,
        );
        if (status === 200 || status === 401) return;
        if (Date.now() > deadline) throw new Error(`docker-registry did not answer on ${this.url}/v2/ within 15 s:\n${await this.logTail()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await log.close();
    }
  }

  async stopProcess(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.stopProcess();
    await this.tokenServer?.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  private async logTail(): Promise<string> {
    const text = await readFile(this.logFile, "utf8").catch(() => "");
    return text.split("\n").slice(-30).join("\n");
  }
}

/**
 * Pushes `image` to `registry` as `name:tag` (default tag `latest`) with the registry API
 * directly, independent of Shoal's client: each blob not already there by a monolithic upload
 * (`POST /v2/<name>/blobs/uploads/`, then `PUT <location>?digest=`), then the manifest
 * (`PUT /v2/<name>/manifests/<tag>`). Sends the registry's pushAuthorization (Basic, or a
 * Bearer token minted by its token server), or Basic `auth` when given. Returns the manifest's digest. Throws naming the request
 * and the registry's answer on any failure.
 */
export async function pushTestImage(
  registry: Pick<TestRegistry, "url" | "pushAuthorization">,
  name: string,
  image: TestImage,
  opts: { tag?: string; auth?: TestRegistryAuth } = {},
): Promise<string> {
  const pusher = new Pusher(registry.url, name, opts.auth !== undefined ? basicAuthorization(opts.auth) : registry.pushAuthorization(name));
  await pusher.pushImage(image);
  await pusher.putManifest(opts.tag ?? "latest", image.manifest, image.manifestDescriptor);
  return image.manifestDescriptor.digest;
}

/**
 * Pushes every image of `index` by digest, then the index as `name:tag`. Returns the index's
 * digest (what the tag resolves to).
 */
export async function pushTestIndex(
  registry: Pick<TestRegistry, "url" | "pushAuthorization">,
  name: string,
  index: TestIndex,
  opts: { tag?: string; auth?: TestRegistryAuth } = {},
): Promise<string> {
  const pusher = new Pusher(registry.url, name, opts.auth !== undefined ? basicAuthorization(opts.auth) : registry.pushAuthorization(name));
  for (const image of index.images) {
    await pusher.pushImage(image);
    await pusher.putManifest(image.manifestDescriptor.digest, image.manifest, image.manifestDescriptor);
  }
  await pusher.putManifest(opts.tag ?? "latest", index.index, index.indexDescriptor);
  return index.indexDescriptor.digest;
}

class Pusher {
  private readonly headers: Record<string, string>;

  constructor(
    private readonly base: string,
    private readonly name: string,
    authorization: string | undefined,
  ) {
    this.headers = authorization === undefined ? {} : { authorization };
  }

  async pushImage(image: TestImage): Promise<void> {
    for (const layer of image.layers) await this.putBlob(layer.blob, layer.descriptor.digest);
    await this.putBlob(image.configBlob, image.configDescriptor.digest);
  }

  async putBlob(data: Buffer, digest: string): Promise<void> {
    const head = await fetch(`${this.base}/v2/${this.name}/blobs/${digest}`, { method: "HEAD", headers: this.headers });
    if (head.ok) return;
    const start = await fetch(`${this.base}/v2/${this.name}/blobs/uploads/`, { method: "POST", headers: this.headers });
    await expectStatus(start, 202, `POST ${this.base}/v2/${this.name}/blobs/uploads/`);
    const location = start.headers.get("location");
    if (location === null) throw new Error(`POST ${this.base}/v2/${this.name}/blobs/uploads/ answered without a Location`);
    const url = new URL(location, this.base);
    url.searchParams.set("digest", digest);
    const put = await fetch(url, {
      method: "PUT",
      headers: { ...this.headers, "content-type": "application/octet-stream", "content-length": String(data.length) },
      body: data,
    });
    await expectStatus(put, 201, `PUT blob ${digest} to ${this.name}`);
  }

  async putManifest(reference: string, body: Buffer, descriptor: Descriptor): Promise<void> {
    const res = await fetch(`${this.base}/v2/${this.name}/manifests/${reference}`, {
      method: "PUT",
      headers: { ...this.headers, "content-type": descriptor.mediaType },
      body,
    });
    await expectStatus(res, 201, `PUT manifest ${this.name}:${reference}`);
    const digest = res.headers.get("docker-content-digest");
    if (digest !== null && digest !== descriptor.digest) {
      throw new Error(`PUT manifest ${this.name}:${reference}: the registry computed ${digest}, expected ${descriptor.digest}`);
    }
  }
}

async function expectStatus(res: Response, status: number, what: string): Promise<void> {
  if (res.status === status) {
    await res.body?.cancel();
    return;
  }
  throw new Error(`${what}: ${res.status} ${res.statusText}: ${await res.text()}`);
}

function basicAuthorization(auth: TestRegistryAuth): string {
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
}

async function ensureInstalled(bin: string, pkg: string): Promise<void> {
  if (await executable(bin)) return;
  try {
    await execFileAsync("bash", ["-c", '. "$1" && ensure_apt "$2"', "bash", LIB_SH, pkg], { timeout: 300_000 });
  } catch (cause) {
    throw new Error(`prerequisite missing: ${bin}: install ${pkg} (scripts/lib.sh ensure_registry_tools does it); installing it failed`, { cause });
  }
  if (!(await executable(bin))) {
    throw new Error(`prerequisite missing: ${bin}: install ${pkg} (scripts/lib.sh ensure_registry_tools does it)`);
  }
}

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
