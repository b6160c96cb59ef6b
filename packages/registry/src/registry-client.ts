import { createHash } from "node:crypto";
import { Readable, Transform } from "node:stream";
import type { TransformCallback } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  UnavailableError,
  chooseManifest,
  familiarString,
  validateDigest,
} from "@shoal/domain";
import type { Descriptor, ImageIndex, ImageManifest, ImageReference, Platform } from "@shoal/domain";
import { Authorizer } from "./authorizer";
import type { RegistryCredentials } from "./authorizer";
import { BlobVerifier } from "./blob-verifier";
import { MANIFEST_ACCEPT, manifestKind, manifestMediaType } from "./media-types";
import { connectionError, registryError } from "./registry-errors";
import { registryBaseUrl } from "./transport";
import { parseWwwAuthenticate } from "./www-authenticate";

export interface RegistryClientOptions {
  /**
   * Credentials per registry host, keyed by the reference's domain (`127.0.0.1:5000`,
   * `docker.io`), or a function of it. A host without any is spoken to anonymously.
   */
  readonly credentials?: Readonly<Record<string, RegistryCredentials>> | ((domain: string) => RegistryCredentials | undefined);
  /** Hosts spoken to over plain HTTP besides loopback: `host[:port]` or an IPv4 CIDR (see registryBaseUrl). */
  readonly insecureRegistries?: readonly string[];
  /** Sent as User-Agent; default `shoal`. */
  readonly userAgent?: string;
}

/** A manifest document as fetched: its bytes, their digest, and the parsed form. */
export interface FetchedDocument<T> {
  /** mediaType, digest and size of `raw`; a manifest chosen from an index keeps the index entry's platform. */
  readonly descriptor: Descriptor;
  readonly raw: Uint8Array;
  readonly parsed: T;
}

/** What a reference resolves to on this platform. */
export interface ResolvedImage {
  readonly reference: ImageReference;
  /**
   * Digest of what the tag (or digest) points at — the index for a multi-platform image, the
   * manifest otherwise. What `docker pull` prints as `Digest:` and records as a RepoDigest.
   */
  readonly digest: string;
  /** The index or manifest list, when the reference points at one. */
  readonly index?: FetchedDocument<ImageIndex>;
  /** The platform's image manifest (the top document itself when there is no index). */
  readonly manifest: FetchedDocument<ImageManifest>;
  /** The manifest's config descriptor: the image id is its digest. */
  readonly config: Descriptor;
}

export interface FetchBlobOptions {
  /**
   * Resume at this byte: the stream yields the blob from `offset` on. Requires `prefix`.
   * A registry that ignores the Range request answers the whole blob; its first `offset`
   * bytes are then dropped, so the stream still starts at `offset`.
   */
  readonly offset?: number;
  /** The blob's first `offset` bytes the caller already has, hashed so the end can still be verified. */
  readonly prefix?: AsyncIterable<Uint8Array>;
  readonly signal?: AbortSignal;
}

export interface RegistryClient {
  /**
   * Fetches the manifest `ref` names (by digest when it has one, else by tag), and, when it
   * is an index or manifest list, the entry chosen for `platform` (chooseManifest). Each
   * document's bytes are checked against the digest they were asked by.
   *
   * Errors: NotFoundError `manifest for localhost:5000/x:nope not found: manifest unknown: manifest unknown`
   * (Docker's words) and `no matching manifest for linux/amd64 in the manifest list entries`;
   * FailedPreconditionError for refused credentials (`… unauthorized: authentication required`),
   * a digest mismatch or a document Shoal cannot pull (schema 1); UnavailableError for an
   * unreachable host (`Get "https://nosuch.example/v2/": dial tcp: lookup nosuch.example: no such host`)
   * or a registry answering 5xx/429.
   */
  resolve(ref: ImageReference, opts: { platform: Platform; signal?: AbortSignal }): Promise<ResolvedImage>;

  /**
   * The bytes of the blob `descriptor` names in `ref`'s repository, as a stream. Resolves once
   * the registry has answered; errors before that (404 → NotFoundError, auth, connection)
   * reject. The stream errors — before 'end' — with FailedPreconditionError naming the digest
   * when the bytes are more or fewer than `descriptor.size` or their sha256 is not
   * `descriptor.digest`, and with UnavailableError when the connection breaks. Destroying the
   * stream early aborts the download.
   */
  fetchBlob(ref: ImageReference, descriptor: Descriptor, opts?: FetchBlobOptions): Promise<Readable>;
}

/** Largest manifest or index accepted (as containerd's limit). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** A client for the pull side of the OCI distribution API (Docker Registry HTTP API v2). */
export function createRegistryClient(opts: RegistryClientOptions = {}): RegistryClient {
  return new HttpRegistryClient(opts);
}

class HttpRegistryClient implements RegistryClient {
  private readonly authorizer: Authorizer;
  private readonly pings = new Map<string, Promise<void>>();
  private readonly insecure: readonly string[];
  private readonly userAgent: string;

  constructor(opts: RegistryClientOptions) {
    const creds = opts.credentials;
    this.authorizer = new Authorizer(typeof creds === "function" ? creds : (domain) => creds?.[domain]);
    this.insecure = opts.insecureRegistries ?? [];
    this.userAgent = opts.userAgent ?? "shoal";
  }

  async resolve(ref: ImageReference, opts: { platform: Platform; signal?: AbortSignal }): Promise<ResolvedImage> {
    const top = await this.fetchManifest(ref, ref.digest ?? ref.tag ?? "latest", opts.signal);
    if (top.kind === "manifest") {
      const manifest = top.doc as FetchedDocument<ImageManifest>;
      return { reference: ref, digest: top.doc.descriptor.digest, manifest, config: manifest.parsed.config };
    }
    const index = top.doc as FetchedDocument<ImageIndex>;
    const entry = chooseManifest(index.parsed, opts.platform);
    const child = await this.fetchManifest(ref, entry.digest, opts.signal);
    if (child.kind !== "manifest") {
      throw new FailedPreconditionError(`${entry.digest} in the index of ${familiarString(ref)} is not an image manifest (nested indexes are not supported)`);
    }
    if (child.doc.descriptor.size !== entry.size) {
      throw new FailedPreconditionError(`manifest ${entry.digest} of ${familiarString(ref)} has ${child.doc.descriptor.size} bytes, its index entry gives ${entry.size}`);
    }
    const parsed = child.doc.parsed as ImageManifest;
    const manifest: FetchedDocument<ImageManifest> = {
      descriptor: { ...child.doc.descriptor, ...(entry.platform !== undefined ? { platform: entry.platform } : {}) },
      raw: child.doc.raw,
      parsed,
    };
    return { reference: ref, digest: index.descriptor.digest, index, manifest, config: parsed.config };
  }

  async fetchBlob(ref: ImageReference, descriptor: Descriptor, opts: FetchBlobOptions = {}): Promise<Readable> {
    validateDigest(descriptor.digest);
    if (!descriptor.digest.startsWith("sha256:")) {
      throw new InvalidArgumentError(`unsupported digest algorithm of ${descriptor.digest}: only sha256 blobs are verified`);
    }
    const offset = opts.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0 || offset > descriptor.size) {
      throw new InvalidArgumentError(`invalid offset ${offset} for blob ${descriptor.digest} of ${descriptor.size} bytes`);
    }
    const hash = createHash("sha256");
    if (offset > 0) {
      if (opts.prefix === undefined) throw new InvalidArgumentError("resuming a blob at an offset needs its first bytes (prefix) to verify it");
      let have = 0;
      for await (const chunk of opts.prefix) {
        have += chunk.length;
        hash.update(chunk);
      }
      if (have !== offset) throw new InvalidArgumentError(`the prefix of blob ${descriptor.digest} has ${have} bytes, not the offset ${offset}`);
    }
    const res = await this.request(ref, `blobs/${descriptor.digest}`, {
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
    if (!res.ok) {
      throw registryError(`fetching blob ${descriptor.digest} of ${familiarString(ref)}: `, res.status, res.statusText, await res.text());
    }
    let skip = 0;
    if (offset > 0) {
      if (res.status === 206) {
        const start = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1];
        if (start !== undefined && Number(start) !== offset) {
          await res.body?.cancel();
          throw new FailedPreconditionError(`fetching blob ${descriptor.digest}: the registry answered bytes from ${start}, not ${offset}`);
        }
      } else {
        skip = offset; // the whole blob came back: drop what the caller has
      }
    }
    const verifier = new BlobVerifier(descriptor.digest, descriptor.size, offset, hash);
    if (res.body === null) {
      verifier.end();
      return verifier;
    }
    const source = Readable.fromWeb(res.body as unknown as NodeReadableStream<Uint8Array>);
    source.on("error", (err) => {
      verifier.destroy(new UnavailableError(`reading blob ${descriptor.digest} of ${familiarString(ref)}: ${err.message}`, { cause: err }));
    });
    // A consumer that stops early aborts the download.
    verifier.on("close", () => source.destroy());
    const body = skip > 0 ? source.pipe(new SkipBytes(skip)) : source;
    body.pipe(verifier);
    return verifier;
  }

  /** GET a manifest by tag or digest; verifies a by-digest answer and computes the digest of a by-tag one. */
  private async fetchManifest(
    ref: ImageReference,
    reference: string,
    signal: AbortSignal | undefined,
  ): Promise<{ kind: "index" | "manifest"; doc: FetchedDocument<ImageIndex | ImageManifest> }> {
    const res = await this.request(ref, `manifests/${reference}`, {
      headers: { accept: MANIFEST_ACCEPT },
      ...(signal !== undefined ? { signal } : {}),
    });
    const asked = `${familiarName(ref)}${reference.includes(":") ? "@" : ":"}${reference}`;
    if (!res.ok) {
      const body = await res.text();
      if (res.status === 404) throw registryError(`manifest for ${asked} not found: `, res.status, res.statusText, body);
      throw registryError(`fetching manifest for ${asked}: `, res.status, res.statusText, body);
    }
    const raw = new Uint8Array(await res.arrayBuffer());
    if (raw.length > MAX_MANIFEST_BYTES) throw new FailedPreconditionError(`manifest for ${asked} is larger than ${MAX_MANIFEST_BYTES} bytes`);
    const digest = `sha256:${createHash("sha256").update(raw).digest("hex")}`;
    if (reference.includes(":") && digest !== reference) {
      throw new FailedPreconditionError(`manifest for ${asked} failed verification: its content has digest ${digest}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(raw).toString("utf8"));
    } catch (cause) {
      throw new FailedPreconditionError(`manifest for ${asked} is not JSON`, { cause });
    }
    const contentType = res.headers.get("content-type");
    const kind = manifestKind(contentType, parsed);
    if (kind === undefined) {
      const v = (parsed as { schemaVersion?: unknown }).schemaVersion;
      throw new FailedPreconditionError(
        v === 1
          ? `manifest for ${asked} is a Docker Image manifest schema version 1, which is no longer supported`
          : `manifest for ${asked} is not an OCI or Docker image manifest or index (Content-Type ${contentType ?? "none"})`,
      );
    }
    if (kind === "manifest") checkManifestShape(parsed, asked);
    if (kind === "index") checkIndexShape(parsed, asked);
    const descriptor: Descriptor = { mediaType: manifestMediaType(contentType, parsed, kind), digest, size: raw.length };
    return { kind, doc: { descriptor, raw, parsed: parsed as ImageIndex | ImageManifest } };
  }

  /**
   * One authorised request to `/v2/<path>/<suffix>` of `ref`'s registry: pings `/v2/` first
   * (once per host) to learn its auth scheme, sends the Authorization that scheme needs for
   * `repository:<path>:pull`, and on a 401 learns the new challenge and retries once.
   * A second 401 is FailedPreconditionError with the registry's words.
   */
  private async request(ref: ImageReference, suffix: string, init: { headers: Record<string, string>; signal?: AbortSignal }): Promise<Response> {
    const base = registryBaseUrl(ref.domain, this.insecure);
    await this.ping(ref.domain, base, init.signal);
    const url = `${base}/v2/${ref.path}/${suffix}`;
    const scope = `repository:${ref.path}:pull`;
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.authorizer.header(ref.domain, scope);
      const headers: Record<string, string> = { "user-agent": this.userAgent, ...init.headers };
      if (authorization !== undefined) headers.authorization = authorization;
      let res: Response;
      try {
        res = await fetch(url, { headers, ...(init.signal !== undefined ? { signal: init.signal } : {}) });
      } catch (err) {
        if (init.signal?.aborted === true) throw err;
        throw connectionError("GET", url, err);
      }
      if (res.status !== 401) return res;
      const body = await res.text();
      const learnt = this.authorizer.learn(ref.domain, parseWwwAuthenticate(res.headers.get("www-authenticate") ?? ""));
      if (attempt > 0 || !learnt) throw registryError(`Get "${url}": `, res.status, res.statusText, body);
      // A cached token may have been revoked; a scheme just learnt may now send credentials.
      // Sending the same Authorization again would only be refused again.
      this.authorizer.forgetTokens(ref.domain);
      if ((await this.authorizer.header(ref.domain, scope)) === authorization) {
        throw registryError(`Get "${url}": `, res.status, res.statusText, body);
      }
    }
  }

  /** `GET /v2/` once per host per client: learns the auth scheme or that none is needed. */
  private ping(domain: string, base: string, signal: AbortSignal | undefined): Promise<void> {
    let p = this.pings.get(domain);
    if (p === undefined) {
      p = this.doPing(domain, base, signal);
      this.pings.set(domain, p);
      // A failed ping (host down) is retried by the next request.
      p.catch(() => this.pings.delete(domain));
    }
    return p;
  }

  private async doPing(domain: string, base: string, signal: AbortSignal | undefined): Promise<void> {
    const url = `${base}/v2/`;
    let res: Response;
    try {
      res = await fetch(url, { headers: { "user-agent": this.userAgent }, ...(signal !== undefined ? { signal } : {}) });
    } catch (err) {
      throw connectionError("GET", url, err);
    }
    await res.body?.cancel();
    if (res.status === 401) {
      this.authorizer.learn(domain, parseWwwAuthenticate(res.headers.get("www-authenticate") ?? ""));
    } else if (res.ok) {
      this.authorizer.anonymous(domain);
    } else if (res.status >= 500) {
      throw registryError(`Get "${url}": `, res.status, res.statusText, "");
    }
  }
}

function familiarName(ref: ImageReference): string {
  return familiarString({ domain: ref.domain, path: ref.path });
}

function checkDescriptor(d: unknown): d is Descriptor {
  if (typeof d !== "object" || d === null) return false;
  const o = d as Record<string, unknown>;
  return typeof o.mediaType === "string" && typeof o.digest === "string" && typeof o.size === "number" && Number.isInteger(o.size) && o.size >= 0;
}

function checkManifestShape(parsed: unknown, asked: string): void {
  const m = parsed as { config?: unknown; layers?: unknown };
  if (!checkDescriptor(m.config) || !Array.isArray(m.layers) || !m.layers.every(checkDescriptor)) {
    throw new FailedPreconditionError(`manifest for ${asked} has no valid config and layers descriptors`);
  }
}

function checkIndexShape(parsed: unknown, asked: string): void {
  const m = parsed as { manifests?: unknown };
  if (!Array.isArray(m.manifests) || !m.manifests.every(checkDescriptor)) {
    throw new FailedPreconditionError(`index for ${asked} has no valid manifests list`);
  }
}

/** Drops the first `count` bytes of a stream. */
class SkipBytes extends Transform {
  constructor(private remaining: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, cb: TransformCallback): void {
    if (this.remaining >= chunk.length) {
      this.remaining -= chunk.length;
      cb();
      return;
    }
    const rest = chunk.subarray(this.remaining);
    this.remaining = 0;
    cb(null, rest);
  }
}
