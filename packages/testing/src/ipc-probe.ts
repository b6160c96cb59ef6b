import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, cp, mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** The probe's source; its header comment is the contract (roles, report file, SIGTERM). */
const IPC_PROBE_SOURCE = fileURLToPath(new URL("../../../test/fixtures/ipc-probe.c", import.meta.url));

/**
 * Compiles test/fixtures/ipc-probe.c with `gcc -static -O2` to `outPath` (mode 0755; missing
 * parent directories are created) and returns `outPath`. Static, so it runs in a busybox
 * rootfs: copy it into the container's tree, e.g. as `bin/ipc-probe`.
 *
 * The binary is written beside `outPath` and renamed over it, so a concurrent reader sees
 * the old file or the whole new one. Fails with a message naming gcc and libc6-dev (static
 * glibc) when the compiler is missing or cannot link statically, with gcc's output as cause.
 */
export async function buildIpcProbe(outPath: string): Promise<string> {
  await mkdir(dirname(outPath), { recursive: true });
  const tmp = `${outPath}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    try {
      await execFileAsync("gcc", ["-static", "-O2", "-o", tmp, IPC_PROBE_SOURCE]);
    } catch (cause) {
      const stderr = (cause as { stderr?: string }).stderr?.trim();
      const detail = stderr ? stderr.split("\n").slice(-3).join("; ") : (cause as Error).message;
      throw new Error(
        `building ipc-probe needs gcc with static glibc (apt-get install gcc libc6-dev): gcc -static ${IPC_PROBE_SOURCE} failed: ${detail}`,
        { cause },
      );
    }
    await chmod(tmp, 0o755);
    await rename(tmp, outPath);
  } finally {
    await rm(tmp, { force: true });
  }
  return outPath;
}

/** A copy of the rootfs `from` at `to` with `bin/ipc-probe` built into it (buildIpcProbe); returns `to`. */
export async function rootfsWithIpcProbe(from: string, to: string): Promise<string> {
  await cp(from, to, { recursive: true, verbatimSymlinks: true });
  await buildIpcProbe(join(to, "bin/ipc-probe"));
  return to;
}
