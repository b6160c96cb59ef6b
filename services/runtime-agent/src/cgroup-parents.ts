import { readdir, rmdir } from "node:fs/promises";
import { join } from "node:path";

const CGROUP_ROOT = "/sys/fs/cgroup";

/**
 * Removes this host's cgroup parent directory (`<controller>/<prefix>` on v1, `<prefix>`
 * on v2) wherever it is empty, as runc removes only each container's own leaf. A parent
 * that still has containers below it stays (rmdir refuses). Never throws.
 */
export async function removeEmptyCgroupParents(prefix: string, root = CGROUP_ROOT): Promise<void> {
  const candidates = [join(root, prefix)];
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) candidates.push(join(root, e.name, prefix));
  for (const dir of candidates) await rmdir(dir).catch(() => undefined);
}
