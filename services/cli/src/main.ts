import { readFile } from "node:fs/promises";
import { runCli } from "./run-cli";

// The `shoal` command: wires the process to runCli and exits with its code. Exiting right
// away is safe: on Linux, writes to pipes and files are synchronous.

// A reader that went away (`shoal events | head -1`) ends the command quietly, as for any
// Unix tool, instead of an EPIPE stack.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});
const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  now: () => new Date(),
  readFile: (path) => readFile(path, "utf8"),
  onSignal: (listener) => {
    const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
    for (const signal of signals) process.on(signal, listener);
    return () => {
      for (const signal of signals) process.off(signal, listener);
    };
  },
}).catch((err: unknown) => {
  process.stderr.write(`shoal: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
  return 125;
});
process.exit(code);
