/** Removing what containers leave on a host when their engine is gone: runc state, mounts, cgroups. */
import { readdir, readFile, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { runQuiet } from "./processes";

/**
 * `runc --root <root>/<ns> delete --force` for every container under each namespace
 * directory of `root` (the layout containerd's runc shim uses), so no container process
 * outlives a containerd that died before it could clean up.
 */
export async function forceDeleteRuncContainers(root: string): Promise<void> {
  for (const ns of await readdir(root).catch(() => [] as string[])) await forceDeleteRuncNamespace(join(root, ns));
}

/** `runc --root <nsRoot> delete --force` for every container runc lists there (one namespace only). */
export async function forceDeleteRuncNamespace(nsRoot: string): Promise<void> {
  const { stdout } = await runQuiet("runc", ["--root", nsRoot, "list", "-q"]);
  for (const id of stdout.split("\n").filter((s) => s !== "")) await runQuiet("runc", ["--root", nsRoot, "delete", "--force", id]);
}

/** Lazily unmounts every mount point at or below one of `roots`, deepest first. */
export async function unmountBelow(roots: readonly string[]): Promise<void> {
  const text = await readFile("/proc/self/mountinfo", "utf8");
  const points = text
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((p): p is string => p !== undefined && p !== "")
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => roots.some((r) => p === r || p.startsWith(`${r}/`)))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await runQuiet("umount", ["-l", p]);
}

/** Removes `/sys/fs/cgroup/<controller>/<name>` (and its empty children) in every hierarchy. */
export async function removeCgroupTree(name: string): Promise<void> {
  const rmTree = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
    if (entries === undefined) return;
    for (const e of entries) if (e.isDirectory()) await rmTree(join(dir, e.name));
    await rmdir(dir).catch(() => undefined);
  };
  for (const controller of await readdir("/sys/fs/cgroup").catch(() => [] as string[])) {
    await rmTree(join("/sys/fs/cgroup", controller, name));
  }
}
