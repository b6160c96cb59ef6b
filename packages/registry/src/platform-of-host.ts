import type { Platform } from "@shoal/domain";

/**
 * This machine's platform in OCI words (`linux/amd64`, `linux/arm64`, `linux/arm/v7`), from
 * Node's `process.platform` and `process.arch`. No variant for amd64 (containerd's default
 * spec has none, so `linux/amd64/v2` images are not preferred).
 */
export function platformOfHost(): Platform {
  const os = process.platform === "win32" ? "windows" : process.platform;
  switch (process.arch) {
    case "x64":
      return { os, architecture: "amd64" };
    case "ia32":
      return { os, architecture: "386" };
    case "arm": {
      const version = (process.config.variables as { arm_version?: string }).arm_version;
      return { os, architecture: "arm", variant: `v${version ?? "7"}` };
    }
    case "ppc64":
      return { os, architecture: "ppc64le" };
    default:
      return { os, architecture: process.arch };
  }
}
