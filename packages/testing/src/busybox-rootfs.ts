import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { access, chmod, copyFile, mkdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { constants } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

const BUSYBOX = "/usr/bin/busybox";
const DEFAULT_BUSYBOX_ROOTFS = "/var/lib/shoal-test/rootfs/busybox";

/**
 * Returns the path of a root filesystem made of busybox-static: `bin/busybox` plus a
 * symlink in `bin/` for every applet (`sh`, `echo`, `sleep`, …), the usual empty mount
 * points and a root-only `/etc/passwd`.
 *
 * Built once and cached at `dir` (default `/var/lib/shoal-test/rootfs/busybox`); the build
 * goes to a temporary sibling and is renamed into place, so concurrent callers and
 * interrupted runs never see a half-built tree. Treat the result as read-only: give it
 * to containers as an overlay `lowerdir`.
 *
 * Fails with a message naming the package when `/usr/bin/busybox` is missing.
 */
export async function ensureBusyboxRootfs(dir: string = DEFAULT_BUSYBOX_ROOTFS): Promise<string> {
  if (await isComplete(dir)) return dir;
  try {
    await access(BUSYBOX, constants.X_OK);
  } catch (cause) {
    throw new Error(`${BUSYBOX} is missing: install busybox-static (\`npm test\` does it)`, { cause });
  }

  await mkdir(dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await build(tmp);
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another process finished first (ENOTEMPTY/EEXIST): use its tree.
      if (!(await isComplete(dir))) throw err;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}

async function isComplete(dir: string): Promise<boolean> {
  try {
    await access(join(dir, "bin/busybox"), constants.X_OK);
    await access(join(dir, "bin/sh"), constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function build(root: string): Promise<void> {
  for (const d of ["bin", "dev", "proc", "sys", "tmp", "etc", "root", "run", "var", "dev/shm", "dev/pts", "dev/mqueue"]) {
    await mkdir(join(root, d), { recursive: true });
  }
  await chmod(join(root, "tmp"), 0o1777);
  await copyFile(BUSYBOX, join(root, "bin/busybox"));
  await chmod(join(root, "bin/busybox"), 0o755);

  const { stdout } = await execFileAsync(BUSYBOX, ["--list"]);
  const applets = stdout.split("\n").map((s) => s.trim()).filter((s) => s !== "" && s !== "busybox");
  for (const applet of applets) {
    // Linking "busybox" itself would replace the binary with a self-referencing link.
    await symlink("busybox", join(root, "bin", applet));
  }
  await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  await writeFile(join(root, "etc/group"), "root:x:0:\n");
}
