import { FailedPreconditionError, NotFoundError, UnavailableError } from "@shoal/domain";
import type { ShoalError } from "@shoal/domain";

/**
 * A registry's error body (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`)
 * as Docker prints it: `manifest unknown: manifest unknown`, several joined by `, `. Without a
 * readable body, the HTTP status (`unexpected status 502 Bad Gateway`).
 */
export function describeRegistryErrors(status: number, statusText: string, body: string): string {
  try {
    const parsed = JSON.parse(body) as { errors?: { code?: unknown; message?: unknown }[] };
    const parts = (parsed.errors ?? [])
      .filter((e) => typeof e.code === "string")
      .map((e) => {
        const code = (e.code as string).toLowerCase().replace(/_/g, " ");
        return typeof e.message === "string" && e.message !== "" ? `${code}: ${e.message}` : code;
      });
    if (parts.length > 0) return parts.join(", ");
  } catch {
    // not JSON
  }
  return `unexpected status ${status}${statusText !== "" ? ` ${statusText}` : ""}`;
}

/**
 * The ShoalError for a registry's non-success answer: 404 → NotFoundError; 401/403 →
 * FailedPreconditionError (the credentials, not a retry, must change); 429 and 5xx →
 * UnavailableError; anything else → FailedPreconditionError. `prefix` says what was asked.
 */
export function registryError(prefix: string, status: number, statusText: string, body: string): ShoalError {
  const message = `${prefix}${describeRegistryErrors(status, statusText, body)}`;
  if (status === 404) return new NotFoundError(message);
  if (status === 429 || status >= 500) return new UnavailableError(message);
  return new FailedPreconditionError(message);
}

/**
 * A failed connection as Docker words it, naming the method, URL and host:
 * `Get "https://nosuch.example/v2/": dial tcp: lookup nosuch.example: no such host`,
 * `… dial tcp 127.0.0.1:5000: connect: connection refused`. UnavailableError, with the
 * original error as cause.
 */
export function connectionError(method: string, url: string, err: unknown): UnavailableError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const u = new URL(url);
  const hostPort = u.port !== "" ? `${u.hostname}:${u.port}` : `${u.hostname}:${u.protocol === "https:" ? 443 : 80}`;
  let detail: string;
  switch (cause?.code) {
    case "ENOTFOUND":
      detail = `dial tcp: lookup ${u.hostname}: no such host`;
      break;
    case "EAI_AGAIN":
      detail = `dial tcp: lookup ${u.hostname}: temporary failure in name resolution`;
      break;
    case "ECONNREFUSED":
      detail = `dial tcp ${hostPort}: connect: connection refused`;
      break;
    case "ETIMEDOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      detail = `dial tcp ${hostPort}: i/o timeout`;
      break;
    default:
      detail = cause?.message ?? (err instanceof Error ? err.message : String(err));
  }
  const verb = method.charAt(0).toUpperCase() + method.slice(1).toLowerCase();
  return new UnavailableError(`${verb} "${url}": ${detail}`, { cause: err });
}
