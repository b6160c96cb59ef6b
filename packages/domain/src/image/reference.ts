import { InvalidArgumentError } from "../errors";

/**
 * An image reference as Docker normalises it: `busybox` is
 * `{domain: "docker.io", path: "library/busybox", tag: "latest"}`.
 *
 * `domain` is the registry host with an optional port (`docker.io`, `localhost:5000`,
 * `[::1]:5000`); `path` is the repository inside it. At least one of `tag` and `digest` is
 * set: a name without either gets `latest`. With both (`name:tag@digest`) the digest is
 * what is pulled and the tag only names it, as Docker does.
 */
export interface ImageReference {
  readonly domain: string;
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** Docker Hub's canonical domain; `index.docker.io` is read as this. */
export const DOCKER_HUB_DOMAIN = "docker.io";
const LEGACY_DOCKER_HUB_DOMAIN = "index.docker.io";
const OFFICIAL_PREFIX = "library/";
const DEFAULT_TAG = "latest";
const MAX_PATH_LENGTH = 255;

// The grammar of distribution/reference, written out here (reference.go's comment):
//   reference  := name [ ":" tag ] [ "@" digest ]
//   name       := [domain "/"] path
//   domain     := host [":" port]; host := domain-name | "[" IPv6 "]"
//   path       := component ("/" component)*; component := [a-z0-9]+ (sep [a-z0-9]+)*
//   sep        := "." | "_" | "__" | "-"+
//   tag        := [\w][\w.-]{0,127}
//   digest     := algorithm ":" hex{32,}
const hostLabel = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const host = `(?:${hostLabel}(?:\\.${hostLabel})*|\\[[a-fA-F0-9:]+\\])`;
const domainPattern = `${host}(?::[0-9]+)?`;
const pathComponent = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const pathPattern = `${pathComponent}(?:/${pathComponent})*`;
const tagPattern = "[\\w][\\w.-]{0,127}";
const digestPattern = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";

const REFERENCE = new RegExp(`^((?:${domainPattern}/)?${pathPattern})(?::(${tagPattern}))?(?:@(${digestPattern}))?$`);
const NAME = new RegExp(`^(?:(${domainPattern})/)?(${pathPattern})$`);
const IDENTIFIER = /^[a-f0-9]{64}$/;
const TAG = new RegExp(`^${tagPattern}$`);

/** Hex length of each digest algorithm Docker accepts (go-digest's registered ones). */
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * Parses what a user types after `docker pull` into a normalised reference.
 *
 * The first `/`-separated component is a domain when it contains `.` or `:`, is
 * `localhost`, or has an uppercase letter; otherwise the domain is `docker.io`, and a
 * one-component path there gets `library/`.
 *
 * Throws InvalidArgumentError with Docker's words:
 * - `invalid reference format: repository name (library/Busybox) must be lowercase`
 * - `invalid reference format` for anything outside the grammar
 * - `invalid repository name (<64 hex>), cannot specify 64-byte hexadecimal strings`
 * - `repository name must not be more than 255 characters`
 * - `unsupported digest algorithm`, `invalid checksum digest length`, `invalid checksum digest format`
 */
export function parseImageReference(s: string): ImageReference {
  if (IDENTIFIER.test(s)) {
    throw new InvalidArgumentError(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const [domain, remainder] = splitDomain(s);
  const tagAt = remainder.indexOf(":");
  const repository = tagAt >= 0 ? remainder.slice(0, tagAt) : remainder;
  if (repository.toLowerCase() !== repository) {
    throw new InvalidArgumentError(`invalid reference format: repository name (${repository}) must be lowercase`);
  }
  const full = `${domain}/${remainder}`;
  const match = REFERENCE.exec(full);
  if (match === null) {
    const lower = full.toLowerCase();
    if (lower !== full && REFERENCE.test(lower)) {
      throw new InvalidArgumentError("invalid reference format: repository name must be lowercase");
    }
    throw new InvalidArgumentError("invalid reference format");
  }
  const [, name = "", tag, digest] = match;
  // The name is split again by the grammar, so a first component that looked like a domain
  // but is not one (`a_b.c/x`) ends up in the path, as distribution/reference does.
  const nameMatch = NAME.exec(name);
  const parsedDomain = nameMatch?.[1] ?? "";
  const path = nameMatch?.[2] ?? name;
  if (path.length > MAX_PATH_LENGTH) {
    throw new InvalidArgumentError(`repository name must not be more than ${MAX_PATH_LENGTH} characters`);
  }
  if (digest !== undefined) validateDigest(digest);
  return {
    domain: parsedDomain,
    path,
    ...(tag !== undefined ? { tag } : digest === undefined ? { tag: DEFAULT_TAG } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** Whether `s` is a valid tag (`[\w][\w.-]{0,127}`). */
export function isValidTag(s: string): boolean {
  return TAG.test(s);
}

/**
 * Checks a digest the way go-digest does, throwing InvalidArgumentError with its words:
 * `invalid checksum digest format` (no `algorithm:hex` shape or not lowercase hex),
 * `unsupported digest algorithm`, `invalid checksum digest length`.
 */
export function validateDigest(digest: string): void {
  const colon = digest.indexOf(":");
  if (colon <= 0 || colon === digest.length - 1) throw new InvalidArgumentError("invalid checksum digest format");
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (length === undefined) throw new InvalidArgumentError("unsupported digest algorithm");
  if (hex.length !== length) throw new InvalidArgumentError("invalid checksum digest length");
  if (!/^[a-f0-9]+$/.test(hex)) throw new InvalidArgumentError("invalid checksum digest format");
}

/**
 * The repository name `docker images` shows: `docker.io` and, for one-component official
 * images, `library/` dropped (`busybox`, `someone/app`, `localhost:5000/x`). No tag or digest.
 */
export function familiarName(ref: ImageReference): string {
  if (ref.domain !== DOCKER_HUB_DOMAIN) return ref.domain === "" ? ref.path : `${ref.domain}/${ref.path}`;
  if (ref.path.startsWith(OFFICIAL_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_PREFIX.length);
    if (!rest.includes("/")) return rest;
  }
  return ref.path;
}

/** The familiar name with its tag and digest (`busybox:latest`, `localhost:5000/x@sha256:…`), as Docker's messages print it. */
export function familiarString(ref: ImageReference): string {
  return familiarName(ref) + suffix(ref);
}

/** The canonical string: `docker.io/library/busybox:latest`, `localhost:5000/x:t@sha256:…`. */
export function referenceString(ref: ImageReference): string {
  const name = ref.domain === "" ? ref.path : `${ref.domain}/${ref.path}`;
  return name + suffix(ref);
}

function suffix(ref: ImageReference): string {
  return (ref.tag !== undefined ? `:${ref.tag}` : "") + (ref.digest !== undefined ? `@${ref.digest}` : "");
}

function splitDomain(s: string): [domain: string, remainder: string] {
  const slash = s.indexOf("/");
  // One component ("busybox", "busybox:1"): always Docker Hub, so "host:port" never arises.
  if (slash < 0) return [DOCKER_HUB_DOMAIN, OFFICIAL_PREFIX + s];
  const first = s.slice(0, slash);
  const rest = s.slice(slash + 1);
  let domain: string;
  let path: string;
  if (first === "localhost" || /[.:]/.test(first) || first.toLowerCase() !== first) {
    [domain, path] = [first === LEGACY_DOCKER_HUB_DOMAIN ? DOCKER_HUB_DOMAIN : first, rest];
  } else {
    [domain, path] = [DOCKER_HUB_DOMAIN, s];
  }
  if (domain === DOCKER_HUB_DOMAIN && !path.includes("/")) path = OFFICIAL_PREFIX + path;
  return [domain, path];
}
