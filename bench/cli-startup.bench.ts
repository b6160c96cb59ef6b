// npm run bench:cli [-- runs] — the CLI's start alone: whole `shoal` processes (the compiled
// services/cli/dist/shoal) against a fake api in this process, with `node -e 0` for scale,
// interleaved round-robin so machine noise falls on every variant alike. No stack, no peers:
// the targets against docker are `npm run bench:e2e`'s.
//
// Prints p50/p99 wall time per variant (default 60 runs each) and the mean CPU time
// (user+sys) per process, which a busy machine disturbs far less than wall time.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startFakeApi } from "../services/cli/src/fake-api-server";
import { childrenCpuMs, loadAverage, timeProcess } from "./lib/processes";
import { mean, ms, p50, p99, table } from "./lib/stats";

const runs = Number(process.argv[2] ?? 60);
if (!Number.isInteger(runs) || runs < 1) {
  console.error("usage: npm run bench:cli [-- runs]   (runs ≥ 1, default 60)");
  process.exit(2);
}
const cliDir = fileURLToPath(new URL("../services/cli/", import.meta.url));
const shoal = join(cliDir, "dist/shoal");
const launcher = join(cliDir, "bin/shoal");

await promisify(execFile)(process.execPath, [join(cliDir, "build.mjs")]);
const api = await startFakeApi();
const env = { PATH: process.env.PATH ?? "", SHOAL_ADDR: api.addr };
// Something for `ps` to list.
for (let i = 0; i < 3; i++) await timeProcess(shoal, ["run", "-d", "--name", `bench-${i}`, "--rootfs", "/srv/busybox", "sleep", "60"], { env });

const variants: Array<{ name: string; command: string; args: string[] }> = [
  { name: "node -e 0 (for scale)", command: process.execPath, args: ["-e", "0"] },
  { name: "shoal --version", command: shoal, args: ["--version"] },
  { name: "shoal ps", command: shoal, args: ["ps"] },
  { name: "shoal ps -a --format json", command: shoal, args: ["ps", "-a", "--format", "json"] },
  { name: "bin/shoal ps (through the sh launcher)", command: launcher, args: ["ps"] },
];

const loadAtStart = loadAverage();
const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
const cpuMs = new Map<string, number>(variants.map((v) => [v.name, 0]));
for (const v of variants) await timeProcess(v.command, v.args, { env }); // warm the page cache
for (let i = 0; i < runs; i++) {
  for (const v of variants) {
    const cpuBefore = childrenCpuMs();
    samples.get(v.name)!.push((await timeProcess(v.command, v.args, { env })).ms);
    cpuMs.set(v.name, cpuMs.get(v.name)! + childrenCpuMs() - cpuBefore);
  }
}
await api.stop();

console.log(`CLI startup, ${runs} runs per variant, whole processes against a fake api in the measuring process (ms)`);
console.log(`load average: start ${loadAtStart}, end ${loadAverage()}; p50/p99 nearest-rank`);
console.log(
  table(
    ["variant", "p50", "p99", "mean", "CPU/process"],
    variants.map((v) => {
      const s = samples.get(v.name)!;
      return [v.name, ms(p50(s)), ms(p99(s)), ms(mean(s)), ms(cpuMs.get(v.name)! / runs)];
    }),
  ),
);
