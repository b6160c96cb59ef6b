import { execFile } from "node:child_process";
import { readFile, readdir, rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

const CGROUP_ROOT = "/sys/fs/cgroup";

/** Where one runtime agent keeps its state (its SHOAL_STATE_ROOT, SHOAL_RUN_DIR and SHOAL_HOST). */
export interface AgentStatePaths {
  stateRoot: string;
  runDir: string;
  host: string;
}

/** Mount points from /proc/self/mountinfo, octal escapes decoded. */
export async function mountPoints(): Promise<string[]> {
  const text = await readFile("/proc/self/mountinfo", "utf8");
  return text
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined && p !== "")
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/**
 * The cgroup directories the agent of `host` makes: runc puts each container under the
 * parent `shoal-<host>`, in every v1 hierarchy (`<root>/<controller>/shoal-<host>`) and on
 * v2 at `<root>/shoal-<host>`. Only those that exist now.
 */
export async function agentCgroupParents(host: string): Promise<string[]> {
  const found: string[] = [];
  const candidates = [join(CGROUP_ROOT, `shoal-${host}`)];
  for (const e of await readdir(CGROUP_ROOT, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) candidates.push(join(CGROUP_ROOT, e.name, `shoal-${host}`));
  }
  for (const dir of candidates) {
    if (await readdir(dir).then(() => true, () => false)) found.push(dir);
  }
  return found;
}

/**
 * Removes what one agent may leave on the machine when it was killed or its containers
 * still ran: runc containers under `<runDir>/runc` (force-deleted, which kills them), mounts
 * under the state root and run directory (deepest first), both directories, and the
 * host's cgroup parents. Run it after the agent is gone and before its containerd stops
 * (the shims go with containerd). Never throws.
 */
export async function cleanupAgentState(p: AgentStatePaths): Promise<void> {
  const runcRoot = join(p.runDir, "runc");
  for (const ns of await readdir(runcRoot).catch(() => [] as string[])) {
    const root = join(runcRoot, ns);
    const { stdout } = await execFileAsync("runc", ["--root", root, "list", "-q"]).catch(() => ({ stdout: "" }));
    for (const cid of stdout.split("\n").filter((s) => s !== "")) {
      await execFileAsync("runc", ["--root", root, "delete", "--force", cid]).catch(() => undefined);
    }
  }
  const points = (await mountPoints().catch(() => [] as string[]))
    .filter((m) => [p.stateRoot, p.runDir].some((pre) => m === pre || m.startsWith(`${pre}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of points) await execFileAsync("umount", ["-l", m]).catch(() => undefined);
  await rm(p.stateRoot, { recursive: true, force: true }).catch(() => undefined);
  await rm(p.runDir, { recursive: true, force: true }).catch(() => undefined);
  for (const dir of await agentCgroupParents(p.host)) await removeCgroupTree(dir);
}

/** rmdir of a cgroup tree, deepest first (cgroup directories hold only control files, which rmdir takes along). */
async function removeCgroupTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (entries === undefined) return;
  for (const e of entries) if (e.isDirectory()) await removeCgroupTree(join(dir, e.name));
  await rmdir(dir).catch(() => undefined);
}
