import { FailedPreconditionError } from "@shoal/domain";
import { connectionError, describeRegistryErrors, registryError } from "./registry-errors";
import type { AuthChallenge } from "./www-authenticate";

/** A user name and password (or token as password) for one registry host. */
export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

/** A registry's answer to an `Authorization` request header. */
type Scheme = { kind: "anonymous" } | { kind: "basic" } | { kind: "bearer"; realm: string; service?: string };

const DEFAULT_TOKEN_LIFETIME_S = 60;
// A token is renewed this long before the registry would refuse it.
const TOKEN_MARGIN_MS = 5_000;

/**
 * Per-host authorization state of one client: the scheme each registry asked for (learnt from
 * its `WWW-Authenticate` challenges) and Bearer tokens cached per realm, service and scope
 * until shortly before they expire. Credentials come from the caller per host; none means
 * anonymous (a Bearer token is still fetched anonymously, as Docker Hub allows for pulls).
 */
export class Authorizer {
  private readonly schemes = new Map<string, Scheme>();
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();

  constructor(
    private readonly credentialsFor: (domain: string) => RegistryCredentials | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records what a 401 (or the `/v2/` ping) asked for. Bearer wins over Basic when both are
   * offered. Returns false when nothing usable was offered (the 401 then stands).
   */
  learn(domain: string, challenges: readonly AuthChallenge[]): boolean {
    const bearer = challenges.find((c) => c.scheme === "bearer" && c.params.realm !== undefined);
    if (bearer !== undefined) {
      const { realm, service } = bearer.params as { realm: string; service?: string };
      this.schemes.set(domain, { kind: "bearer", realm, ...(service !== undefined ? { service } : {}) });
      return true;
    }
    if (challenges.some((c) => c.scheme === "basic")) {
      this.schemes.set(domain, { kind: "basic" });
      return true;
    }
    return false;
  }

  /** Whether a scheme for `domain` is known (from learn). */
  knows(domain: string): boolean {
    return this.schemes.has(domain);
  }

  /** Marks `domain` as answering without credentials. */
  anonymous(domain: string): void {
    this.schemes.set(domain, { kind: "anonymous" });
  }

  /**
   * The `Authorization` header for a request to `domain` needing `scope`
   * (`repository:<path>:pull`), or undefined when none is to be sent. May fetch a token;
   * a token server refusing the credentials gives FailedPreconditionError
   * (`Get "<realm>?…": unauthorized: …`), an unreachable one UnavailableError.
   */
  async header(domain: string, scope: string): Promise<string | undefined> {
    const scheme = this.schemes.get(domain);
    const creds = this.credentialsFor(domain);
    if (scheme === undefined || scheme.kind === "anonymous") return undefined;
    if (scheme.kind === "basic") return creds === undefined ? undefined : basic(creds);
    const key = `${scheme.realm}\n${scheme.service ?? ""}\n${scope}\n${creds?.username ?? ""}`;
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached.expiresAt > this.now()) return `Bearer ${cached.token}`;
    const { token, lifetimeS } = await this.fetchToken(scheme.realm, scheme.service, scope, creds);
    this.tokens.set(key, { token, expiresAt: this.now() + lifetimeS * 1000 - TOKEN_MARGIN_MS });
    return `Bearer ${token}`;
  }

  /** Forgets cached tokens of `domain`'s realm, e.g. after a 401 with a token that was cached. */
  forgetTokens(domain: string): void {
    const scheme = this.schemes.get(domain);
    if (scheme?.kind !== "bearer") return;
    for (const key of this.tokens.keys()) if (key.startsWith(`${scheme.realm}\n`)) this.tokens.delete(key);
  }

  private async fetchToken(
    realm: string,
    service: string | undefined,
    scope: string,
    creds: RegistryCredentials | undefined,
  ): Promise<{ token: string; lifetimeS: number }> {
    const url = new URL(realm);
    if (service !== undefined) url.searchParams.set("service", service);
    url.searchParams.set("scope", scope);
    const headers: Record<string, string> = {};
    if (creds !== undefined) headers.authorization = basic(creds);
    let res: Response;
    try {
      res = await fetch(url, { headers });
    } catch (err) {
      throw connectionError("GET", url.toString(), err);
    }
    const text = await res.text();
    if (!res.ok) {
      // Docker Hub's token server says {"details":"incorrect username or password"}.
      let details: string | undefined;
      try {
        const parsed = JSON.parse(text) as { details?: unknown };
        if (typeof parsed.details === "string") details = parsed.details;
      } catch {
        // not JSON
      }
      const prefix = `Get "${url.toString()}": `;
      if (res.status === 401 || res.status === 403) {
        throw new FailedPreconditionError(`${prefix}unauthorized: ${details ?? describeRegistryErrors(res.status, res.statusText, text)}`);
      }
      throw registryError(prefix, res.status, res.statusText, text);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch (cause) {
      throw new FailedPreconditionError(`Get "${url.toString()}": token response is not JSON`, { cause });
    }
    const token = typeof body.token === "string" && body.token !== "" ? body.token : body.access_token;
    if (typeof token !== "string" || token === "") {
      throw new FailedPreconditionError(`Get "${url.toString()}": token response has no token`);
    }
    const lifetimeS = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_LIFETIME_S;
    return { token, lifetimeS };
  }
}

function basic(creds: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
}
