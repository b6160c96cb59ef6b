import { isIPv4 } from "node:net";

/** Docker Hub's API host: references say `docker.io`, the API answers at `registry-1.docker.io`. */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";

/**
 * The base URL of a registry's API for a reference's domain, by Docker's rule: plain HTTP
 * for loopback hosts (`localhost`, `127.0.0.0/8`, `[::1]`) and for hosts the caller lists as
 * insecure (`host[:port]` exactly as in references, or an IPv4 CIDR such as `10.0.0.0/8`
 * matching an IPv4 literal host); HTTPS for every other host. `docker.io` maps to
 * `https://registry-1.docker.io`.
 *
 * Unlike dockerd, which tries HTTPS first and falls back to HTTP for such hosts, an insecure
 * host is spoken to over HTTP only.
 */
export function registryBaseUrl(domain: string, insecureRegistries: readonly string[] = []): string {
  if (domain === "docker.io") return `https://${DOCKER_HUB_API_HOST}`;
  return `${isPlainHttpHost(domain, insecureRegistries) ? "http" : "https"}://${domain}`;
}

/** Whether `domain` (`host[:port]`) is spoken to over plain HTTP (see registryBaseUrl). */
export function isPlainHttpHost(domain: string, insecureRegistries: readonly string[] = []): boolean {
  const host = hostOf(domain);
  if (host === "localhost" || host === "::1") return true;
  if (isIPv4(host) && host.startsWith("127.")) return true;
  for (const entry of insecureRegistries) {
    if (entry === domain || entry === host) return true;
    if (entry.includes("/") && isIPv4(host) && inCidr(host, entry)) return true;
  }
  return false;
}

/** The host part of `host[:port]` or `[v6]:port`, brackets removed. */
export function hostOf(domain: string): string {
  if (domain.startsWith("[")) {
    const end = domain.indexOf("]");
    return end < 0 ? domain : domain.slice(1, end);
  }
  const colon = domain.lastIndexOf(":");
  return colon < 0 ? domain : domain.slice(0, colon);
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split("/");
  const bits = Number(bitsText);
  if (base === undefined || !isIPv4(base) || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((toInt(ip) & mask) >>> 0) === ((toInt(base) & mask) >>> 0);
}

function toInt(ip: string): number {
  return ip.split(".").reduce((acc, part) => ((acc << 8) | Number(part)) >>> 0, 0);
}
