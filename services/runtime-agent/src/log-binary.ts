import { chmod, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { ensureCompiledHelper, ensureContentFile } from "@shoal/host-os";

// containerd's `binary://` logging protocol (pkg/process/io.go, NewBinaryIO): the shim starts
// the URI's path with the query's pairs as arguments (`k1 v1 k2 v2`, in map order), the
// process's stdout pipe on fd 3, its stderr pipe on fd 4 and a pipe on fd 5 it reads until
// EOF before starting the process. On process delete it closes its pipe ends, sends SIGTERM
// and waits (up to 12 s) for the logger to exit.
//
// Why not `file://`: with a file:// stdout the 1.6 shim copies both pipes into one fd, and
// the stdout copy closes that fd as soon as stdout hits EOF; a stderr write still in flight
// then fails ("error copying stderr") and the line is lost.
//
// The logger is started on every container start, on its path: so it is a small C program
// (../logger/shoal-logger.c), compiled once per host into a cache named by its source's
// hash. Where no C compiler works, the shell script below does the same with three
// processes (sh and two cats), which costs a container start a few milliseconds more.
//
// Both append each stream with its own O_APPEND descriptor, so neither copy can overwrite
// or cut off the other; SIGTERM is ignored so both copies run to EOF and the shim's delete
// returns only once the files are complete. Each says "ready" (closes fd 5) first thing: the
// shim starts the container only after that, and the copies need not be running yet — the
// pipes hold what the process writes until they read it. The logger is a child of the shim,
// not of the agent, so it keeps logging while the agent is down.
const SCRIPT = `#!/bin/sh
# Shoal's containerd binary:// logger: fd 3 (stdout) >> out, fd 4 (stderr) >> err.
trap '' TERM
exec 5>&-
out=
err=
while [ "$#" -ge 2 ]; do
  case "$1" in
    out) out=$2 ;;
    err) err=$2 ;;
  esac
  shift 2
done
/bin/cat <&3 >>"$out" 4<&- &
/bin/cat <&4 >>"$err" 3<&- &
exec 3<&- 4<&-
wait
`;

/** The C logger's source: beside `src/` and `dist/` alike, so the bundle finds it too. */
const C_SOURCE = fileURLToPath(new URL("../logger/shoal-logger.c", import.meta.url));

export interface LogBinary {
  /** Absolute path of the program to name in binary:// URIs. */
  path: string;
  kind: "compiled" | "shell";
  /** Why the shell script is used, when it is. */
  fallbackReason?: string;
}

/**
 * The logger the agent hands to the shim: the compiled C logger (`ensureCompiledHelper`:
 * compiled into `cacheDir` with `compiler` on first use), or, when that cannot be had, the shell script written into
 * `dir`. Either file is named by a hash of its source and never rewritten while it may run.
 */
export async function ensureLogBinary(
  dir: string,
  opts: { cacheDir?: string; compiler?: string } = {},
): Promise<LogBinary> {
  try {
    const path = await ensureCompiledHelper(await readFile(C_SOURCE), { name: "shoal-logger", ...opts });
    return { path, kind: "compiled" };
  } catch (err) {
    const reason = err instanceof Error ? err.message.split("\n")[0]! : String(err);
    return { path: await ensureShellLogger(dir), kind: "shell", fallbackReason: reason };
  }
}

/** The shell script, executable, in `dir`. */
function ensureShellLogger(dir: string): Promise<string> {
  return ensureContentFile(dir, "shoal-logger", SCRIPT, async (tmp) => {
    await writeFile(tmp, SCRIPT, { mode: 0o755 });
    await chmod(tmp, 0o755); // writeFile's mode is reduced by the umask
  });
}

/**
 * The stdio URI sending a process's stdout to `out` and its stderr to `err` (both absolute;
 * they may be the same file, whose directory must exist) through the logger at `binary`.
 * The shim reads only the stdout URI of a binary:// pair; pass the same string as stderr.
 */
export function logBinaryUri(binary: string, files: { out: string; err: string }): string {
  return `binary://${binary}?out=${encodeURIComponent(files.out)}&err=${encodeURIComponent(files.err)}`;
}
