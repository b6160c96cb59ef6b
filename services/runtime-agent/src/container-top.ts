/**
 * `docker top` on this host: ps(1) run over every process of the host, its rows cut to
 * the container's processes (containerd's Tasks.ListPids), as dockerd does it.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { InvalidArgumentError } from "@shoal/domain";

const execFileAsync = promisify(execFile);

export interface TopTable {
  titles: string[];
  processes: string[][];
}

/** ps's options as the user gave them, split at spaces; none: `-ef` (docker's default). */
export function psArguments(psArgs: string | undefined): string[] {
  const args = (psArgs ?? "").split(/\s+/).filter((a) => a !== "");
  return args.length === 0 ? ["-ef"] : args;
}

/**
 * The rows of ps's `output` whose PID column is one of `pids`. The last column (the
 * command) may hold spaces: every field past the titles is joined back into it.
 * InvalidArgumentError when ps's header has no PID column (options such as `-o comm`).
 */
export function filterPsOutput(output: string, pids: readonly number[]): TopTable {
  const lines = output.split("\n").filter((l) => l.trim() !== "");
  const titles = (lines[0] ?? "").trim().split(/\s+/).filter((t) => t !== "");
  const pidColumn = titles.indexOf("PID");
  if (pidColumn === -1) throw new InvalidArgumentError("Couldn't find PID field in ps output");
  const wanted = new Set(pids);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (!wanted.has(Number(fields[pidColumn]))) continue;
    const row = fields.slice(0, titles.length - 1);
    row.push(fields.slice(titles.length - 1).join(" "));
    processes.push(row);
  }
  return { titles, processes };
}

/** Runs ps with the user's options; InvalidArgumentError with ps's own words when it refuses them. */
export async function runPs(psArgs: string | undefined): Promise<string> {
  try {
    return (await execFileAsync("ps", psArguments(psArgs), { maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    throw new InvalidArgumentError(`Error running ps: ${(e.stderr ?? "").trim() || e.message}`, { cause: err });
  }
}
