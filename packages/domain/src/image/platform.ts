import { NotFoundError } from "../errors";
import type { Descriptor, ImageIndex, Platform } from "./manifest";

/**
 * The platform in canonical form, as containerd normalises it before comparing: OS and
 * architecture lowercased, aliases mapped (`x86_64` → `amd64`, `aarch64` → `arm64`,
 * `i386` → `386`, `armhf` → `arm/v7`, `armel` → `arm/v6`, `macos` → `darwin`), and the
 * default variant made explicit or dropped (`amd64/v1` → `amd64`, `arm64/v8` → `arm64`,
 * `arm` → `arm/v7`).
 */
export function normalizePlatform(p: Platform): Platform {
  let os = p.os.toLowerCase();
  if (os === "macos") os = "darwin";
  let architecture = p.architecture.toLowerCase();
  let variant = (p.variant ?? "").toLowerCase();
  switch (architecture) {
    case "i386":
      architecture = "386";
      variant = "";
      break;
    case "x86_64":
    case "x86-64":
    case "amd64":
      architecture = "amd64";
      if (variant === "v1") variant = "";
      break;
    case "aarch64":
    case "arm64":
      architecture = "arm64";
      if (variant === "8" || variant === "v8") variant = "";
      break;
    case "armhf":
      architecture = "arm";
      variant = "v7";
      break;
    case "armel":
      architecture = "arm";
      variant = "v6";
      break;
    case "arm":
      if (variant === "" || variant === "7") variant = "v7";
      else if (variant === "5" || variant === "6" || variant === "8") variant = `v${variant}`;
      break;
  }
  return {
    os,
    architecture,
    ...(variant !== "" ? { variant } : {}),
    ...(p["os.version"] !== undefined ? { "os.version": p["os.version"] } : {}),
  };
}

/** `os/architecture[/variant]`, as Docker prints a platform (`linux/amd64`, `linux/arm/v7`). */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== "").join("/");
}

/**
 * The platforms a host of `platform` runs, best first, as containerd's `platforms.Only`
 * orders them: the platform itself, then older variants of its architecture, then the
 * 32-bit architecture it also runs (amd64 → amd64/v(n-1)…v1 → 386; arm64/v8.x → older
 * v8 minors → arm/v8…v5; arm/vN → arm/v(N-1)…v5).
 */
export function compatiblePlatforms(platform: Platform): Platform[] {
  const p = normalizePlatform(platform);
  const out: Platform[] = [p];
  const like = (architecture: string, variant?: string): Platform => ({
    os: p.os,
    architecture,
    ...(variant !== undefined ? { variant } : {}),
    ...(p["os.version"] !== undefined ? { "os.version": p["os.version"] } : {}),
  });
  switch (p.architecture) {
    case "amd64": {
      const level = variantNumber(p.variant);
      if (level !== undefined) for (let v = level - 1; v >= 1; v--) out.push(like("amd64", `v${v}`));
      out.push(like("386"));
      break;
    }
    case "arm": {
      const level = variantNumber(p.variant);
      if (level !== undefined) for (let v = level - 1; v >= 5; v--) out.push(like("arm", `v${v}`));
      break;
    }
    case "arm64": {
      const variant = p.variant ?? "v8";
      const m = /^v(\d+)(?:\.(\d+))?$/.exec(variant);
      if (m !== null && Number(m[1]) >= 8) {
        let major = Number(m[1]);
        let minor = m[2] !== undefined ? Number(m[2]) : 0;
        if (major === 9) {
          for (let n = minor - 1; n >= 0; n--) out.push(like("arm64", n === 0 ? "v9" : `v9.${n}`));
          // v9.x descends from v8.(x+5).
          minor += 5;
          major = 8;
          out.push(like("arm64", `v8.${minor}`));
        }
        if (major === 8) for (let n = minor - 1; n >= 0; n--) out.push(like("arm64", n === 0 ? "v8" : `v8.${n}`));
      }
      out.push(...compatiblePlatforms(like("arm", "v8")));
      break;
    }
  }
  return out.map(normalizePlatform);
}

/** Whether an image for `candidate` runs on a host of `host`, by containerd's rules. */
export function platformMatches(host: Platform, candidate: Platform): boolean {
  return rankOf(compatiblePlatforms(host), candidate) !== undefined;
}

/**
 * The entry of `index` to pull for `platform`: among the entries whose platform the host
 * runs (compatiblePlatforms), the one of the best-ranked platform, the first in index order
 * among equals. Entries without a platform come after every matching one, as containerd
 * sorts them. Throws NotFoundError `no matching manifest for linux/amd64 in the manifest
 * list entries` (Docker's words, the requested platform) when none qualifies.
 */
export function chooseManifest(index: ImageIndex, platform: Platform): Descriptor {
  const wanted = compatiblePlatforms(platform);
  let best: { rank: number; descriptor: Descriptor } | undefined;
  let unplatformed: Descriptor | undefined;
  for (const d of index.manifests) {
    if (d.platform === undefined) {
      unplatformed ??= d;
      continue;
    }
    const rank = rankOf(wanted, d.platform);
    if (rank !== undefined && (best === undefined || rank < best.rank)) best = { rank, descriptor: d };
  }
  const chosen = best?.descriptor ?? unplatformed;
  if (chosen === undefined) {
    throw new NotFoundError(`no matching manifest for ${formatPlatform(normalizePlatform(platform))} in the manifest list entries`);
  }
  return chosen;
}

function rankOf(wanted: readonly Platform[], candidate: Platform): number | undefined {
  const c = normalizePlatform(candidate);
  const i = wanted.findIndex((w) => w.os === c.os && w.architecture === c.architecture && (w.variant ?? "") === (c.variant ?? ""));
  return i < 0 ? undefined : i;
}

function variantNumber(variant: string | undefined): number | undefined {
  const m = /^v?(\d+)$/.exec(variant ?? "");
  return m === null ? undefined : Number(m[1]);
}
