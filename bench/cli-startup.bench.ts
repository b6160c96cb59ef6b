// CLI startup: whole `shoal` processes (bin/shoal → the esbuild bundle) against a fake api
// in this process, next to a `node -e 0` baseline measured in the same run, interleaved
// round-robin so machine noise falls on every variant alike.
//
//   pnpm exec tsx bench/cli-startup.bench.ts [runs]     (default 60 runs per variant)
//
// Prints p50/p99 wall time per variant, each one's p50 over the baseline, and the mean CPU
// time (user+sys) per process, which a busy machine disturbs far less than wall time.
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startFakeApi } from "../services/cli/src/fake-api-server";

const runs = Number(process.argv[2] ?? 60);
const cliDir = fileURLToPath(new URL("../services/cli/", import.meta.url));
const shoalBin = join(cliDir, "bin/shoal");
const bundle = join(cliDir, "dist/shoal.mjs");

await promisify(execFile)(process.execPath, [join(cliDir, "build.mjs")]);
const api = await startFakeApi();
// Something for `ps` to list.
for (let i = 0; i < 5; i++) {
  await run(shoalBin, ["run", "-d", "--name", `bench-${i}`, "--rootfs", "/srv/busybox", "sleep", "60"]);
}

/** CPU time (ms) of this process's reaped children so far: cutime + cstime from /proc/self/stat. */
function childrenCpuMs(): number {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  // After "pid (comm) ", field 16 (cutime) and 17 (cstime) are at indexes 13 and 14; units are USER_HZ (100/s).
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

function run(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env: { PATH: process.env.PATH ?? "", SHOAL_ADDR: api.addr }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stdout.resume();
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - started;
      if (code !== 0) reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr}`));
      else resolve(ms);
    });
  });
}

const variants: Array<{ name: string; command: string; args: string[] }> = [
  { name: "node -e 0 (baseline)", command: process.execPath, args: ["-e", "0"] },
  { name: "shoal --version", command: shoalBin, args: ["--version"] },
  { name: "shoal ps", command: shoalBin, args: ["ps"] },
  { name: "shoal ps -a --format json", command: shoalBin, args: ["ps", "-a", "--format", "json"] },
  { name: "node dist/shoal.mjs ps (no sh launcher)", command: process.execPath, args: [bundle, "ps"] },
];

const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
const cpuMs = new Map<string, number>(variants.map((v) => [v.name, 0]));
for (const v of variants) await run(v.command, v.args); // warm the page cache
for (let i = 0; i < runs; i++) {
  for (const v of variants) {
    const cpuBefore = childrenCpuMs();
    samples.get(v.name)!.push(await run(v.command, v.args));
    cpuMs.set(v.name, cpuMs.get(v.name)! + childrenCpuMs() - cpuBefore);
  }
}
await api.stop();

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const baseline = quantile([...samples.get(variants[0]!.name)!].sort((a, b) => a - b), 0.5);
console.log(`CLI startup, ${runs} runs per variant, Node ${process.version}, whole processes (ms)`);
console.log(["variant".padEnd(42), "p50".padStart(8), "p99".padStart(8), "p50 - baseline".padStart(16), "CPU/process".padStart(13)].join(""));
for (const v of variants) {
  const sorted = [...samples.get(v.name)!].sort((a, b) => a - b);
  const p50 = quantile(sorted, 0.5);
  console.log(
    [
      v.name.padEnd(42),
      p50.toFixed(1).padStart(8),
      quantile(sorted, 0.99).toFixed(1).padStart(8),
      (p50 - baseline).toFixed(1).padStart(16),
      (cpuMs.get(v.name)! / runs).toFixed(1).padStart(13),
    ].join(""),
  );
}
