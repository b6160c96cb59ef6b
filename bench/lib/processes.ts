import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

export interface ProcessResult {
  /** Wall time from spawn to close, in ms. */
  ms: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs one whole process and times it from spawn to close (stdout and stderr collected).
 * Rejects naming the command and its stderr when it exits non-zero, is killed, or runs
 * longer than `timeoutMs`.
 */
export function timeProcess(
  command: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, {
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`${command} ${args.join(" ")}: ${err.message}`, { cause: err }));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const elapsed = performance.now() - started;
      if (code === 0) resolve({ ms: elapsed, stdout, stderr });
      else reject(new Error(`${command} ${args.join(" ")} ${code === null ? `killed by ${signal}` : `exited ${code}`}: ${stderr.trim() || stdout.trim()}`));
    });
  });
}

/** Like timeProcess, but resolves with stdout and the exit code instead of rejecting on a non-zero exit. */
export function runQuiet(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", (err) => resolve({ code: -1, stdout, stderr: err.message }));
    child.once("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** CPU time (ms) of this process's reaped children so far: cutime + cstime of /proc/self/stat (USER_HZ = 100). */
export function childrenCpuMs(): number {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

/** The 1, 5 and 15 minute load averages from /proc/loadavg. */
export function loadAverage(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}
