// Create → start → exit → delete of `/bin/true` through @shoal/containerd against a private
// containerd: latency per lifecycle and RPCs per lifecycle.
//
//   pnpm exec tsx bench/agent-rpc.bench.ts [iterations=30]
//
// Needs root, containerd, runc and busybox-static (as the int tests do).
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { connectContainerd } from "../packages/containerd/src/index";
import { ensureBusyboxRootfs, startTestContainerd } from "../packages/testing/src/index";

const iterations = Number(process.argv[2] ?? 30);
const warmup = 3;
const work = "/var/lib/shoal-test/bench-rpc-work";

const ctrd = await startTestContainerd({ name: "bench-rpc" });
const client = await connectContainerd({ socket: ctrd.socket, namespace: "shoal" });
try {
  const busybox = await ensureBusyboxRootfs();
  await rm(work, { recursive: true, force: true });
  const durations: number[] = [];
  const rpcTotals: number[] = [];
  const phases: Record<string, number[]> = {};
  for (let i = 0; i < warmup + iterations; i++) {
    const id = `bench-${i}`;
    const dir = join(work, id);
    await mkdir(join(dir, "upper"), { recursive: true });
    await mkdir(join(dir, "work"), { recursive: true });
    const t0 = performance.now();
    const marks: Array<[string, number]> = [];
    const mark = (name: string) => marks.push([name, performance.now()]);
    const { total } = await client.countRpcs(async () => {
      const container = await client.createContainer({
        id,
        spec: {
          ociVersion: "1.0.2",
          process: { args: ["/bin/true"], env: ["PATH=/bin"], cwd: "/", user: { uid: 0, gid: 0 } },
          root: { path: "rootfs" },
          mounts: [{ destination: "/proc", type: "proc", source: "proc" }],
          linux: { cgroupsPath: `/shoal-bench-${id}`, namespaces: [{ type: "pid" }, { type: "mount" }, { type: "ipc" }] },
        },
        runtime: { options: { root: ctrd.runcRoot } },
      });
      mark("Containers.Create");
      const task = await container.newTask({
        rootfs: [{ type: "overlay", source: "overlay", options: [`lowerdir=${busybox}`, `upperdir=${dir}/upper`, `workdir=${dir}/work`] }],
        stdout: "",
        stderr: "",
      });
      mark("Tasks.Create");
      await task.start();
      mark("Tasks.Start");
      await task.wait();
      mark("exit seen");
      await task.delete();
      mark("Tasks.Delete");
      await container.delete();
      mark("Containers.Delete");

    });
    if (i < warmup) continue;
    durations.push(performance.now() - t0);
    rpcTotals.push(total);
    let prev = t0;
    for (const [name, at] of marks) {
      (phases[name] ??= []).push(at - prev);
      prev = at;
    }
  }
  const fmt = (xs: number[]) => `median ${quantile(xs, 0.5).toFixed(1)} ms, p90 ${quantile(xs, 0.9).toFixed(1)} ms`;
  console.log(`create→start→exit→delete of /bin/true, ${iterations} runs: ${fmt(durations)}`);
  for (const [name, xs] of Object.entries(phases)) console.log(`  ${name.padEnd(18)} ${fmt(xs)}`);
  console.log(`RPCs per lifecycle: ${[...new Set(rpcTotals)].join(", ")}`);
} finally {
  client.close();
  await ctrd.stop();
  await rm(work, { recursive: true, force: true });
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}
