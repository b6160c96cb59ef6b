// npm run bench:agent — the runtime agent against `ctr run --rm`, from one run on one busybox rootfs.
//
// The agent is driven through its in-process API (`agent.handle`, the same handlers and
// validation the NATS commands reach), on a private containerd started here; its exit is
// observed the way the control plane observes it: the ContainerExited report on NATS.
// ctr runs as a process, as an operator would: `ctr --address <sock> -n shoal-bench run
// --rm --rootfs <copy of the rootfs> <id> /bin/true`.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cp, readdir, rm, rmdir } from "node:fs/promises";
import { promisify } from "node:util";
// Relative imports: the workspace root does not depend on these packages.
import { hostReportSubject } from "../packages/bus/src/index";
import { connectTestNats, ensureBusyboxRootfs, startTestContainerd } from "../packages/testing/src/index";
import { startAgent } from "../services/runtime-agent/src/index";

const execFileAsync = promisify(execFile);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 20);
const WARMUP = 3;
const MINIMAL_RPCS = 6;
const RUNC = { name: "runc", path: "/usr/sbin/runc" };

const tag = randomBytes(3).toString("hex");
const base = `/var/lib/shoal-test/bench-agent-${tag}`;
const containerd = await startTestContainerd({ name: `bench-agent-${tag}` });
const nats = await connectTestNats();
const busybox = await ensureBusyboxRootfs();
const ctrRootfs = `${base}/ctr-rootfs`; // ctr writes mount points into a plain --rootfs dir: give it a copy
await cp(busybox, ctrRootfs, { recursive: true, verbatimSymlinks: true });
const agent = await startAgent({
  host: `bench${tag}`,
  nc: nats.nc,
  subjectPrefix: nats.prefix,
  containerdSocket: containerd.socket,
  stateRoot: `${base}/state`,
  runDir: `/run/shoal-test/b-${tag}`,
  runtimes: [RUNC],
  logLevel: "silent",
});

const newId = () => randomBytes(32).toString("hex");
const startPayload = (id: string, args: string[]) => ({
  containerId: id,
  rootfs: { dir: busybox },
  args,
  ipcPlan: { mode: "private", shmSizeBytes: 64 * 1024 * 1024 },
  runtime: RUNC,
});

/** Resolves when the agent reports this container's exit (it has deleted task and container by the time the report is out + cleanup). */
function exitReported(id: string): Promise<void> {
  return new Promise((resolve) => {
    const sub = nats.nc.subscribe(hostReportSubject(nats.prefix, agent.host, "ContainerExited"), {
      callback: (_err, msg) => {
        const body = JSON.parse(new TextDecoder().decode(msg.data)) as { payload: { containerId: string } };
        if (body.payload.containerId === id) {
          sub.unsubscribe();
          resolve();
        }
      },
    });
  });
}

async function agentCreateToRunning(): Promise<number> {
  const id = newId();
  const t0 = performance.now();
  await agent.handle("StartContainer", startPayload(id, ["sleep", "1000"]));
  const ms = performance.now() - t0;
  await agent.handle("StopContainer", { containerId: id, timeoutSeconds: 0 });
  await agent.handle("DeleteContainer", { containerId: id });
  return ms;
}

/** Per lifecycle: [start reply, start reply → exit reported, delete]. */
const phases: Array<[number, number, number]> = [];

async function agentLifecycle(): Promise<{ ms: number; rpcs: number; byMethod: Record<string, number> }> {
  const id = newId();
  const exited = exitReported(id);
  const t0 = performance.now();
  const marks: number[] = [];
  const { total, rpcs } = await agent.containerd.countRpcs(async () => {
    await agent.handle("StartContainer", startPayload(id, ["/bin/true"]));
    marks.push(performance.now() - t0);
    await exited;
    marks.push(performance.now() - t0);
    await agent.handle("DeleteContainer", { containerId: id });
  });
  const ms = performance.now() - t0;
  phases.push([marks[0]!, marks[1]! - marks[0]!, ms - marks[1]!]);
  return { ms, rpcs: total, byMethod: { ...rpcs } };
}

async function ctrRun(): Promise<number> {
  const t0 = performance.now();
  await execFileAsync("ctr", ["--address", containerd.socket, "-n", "shoal-bench", "run", "--rm", "--rootfs", ctrRootfs, `b${newId().slice(0, 20)}`, "/bin/true"]);
  return performance.now() - t0;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

try {
  for (let i = 0; i < WARMUP; i++) {
    await agentLifecycle();
    await ctrRun();
  }
  const running: number[] = [];
  const lifecycle: number[] = [];
  const ctr: number[] = [];
  const rpcs: number[] = [];
  let byMethod: Record<string, number> = {};
  // Interleaved, so drift on the machine hits both sides alike.
  for (let i = 0; i < ITERATIONS; i++) {
    running.push(await agentCreateToRunning());
    const l = await agentLifecycle();
    lifecycle.push(l.ms);
    rpcs.push(l.rpcs);
    byMethod = l.byMethod;
    ctr.push(await ctrRun());
  }
  const ctrMs = median(ctr);
  const lifeMs = median(lifecycle);
  const runMs = median(running);
  const maxRpcs = Math.max(...rpcs);
  const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
  console.log(`runtime-agent bench — ${ITERATIONS} iterations (+${WARMUP} warm-up), medians, agent via in-process API, ctr as a process`);
  console.log(`  agent create→running (StartContainer, sleep)      ${runMs.toFixed(1)} ms`);
  console.log(`  agent create→exit→delete (/bin/true)              ${lifeMs.toFixed(1)} ms`);
  console.log(`  ctr run --rm --rootfs (/bin/true)                  ${ctrMs.toFixed(1)} ms`);
  console.log(`  ratio create→running / ctr                         ${(runMs / ctrMs).toFixed(2)}  ${verdict(runMs / ctrMs <= 1)} (target ≤ 1.0)`);
  console.log(`  ratio lifecycle / ctr                              ${(lifeMs / ctrMs).toFixed(2)}  ${verdict(lifeMs / ctrMs <= 1)} (target ≤ 1.0)`);
  console.log(`  containerd RPCs per lifecycle                      ${maxRpcs} (max of ${rpcs.length}) vs ${MINIMAL_RPCS}  ${verdict(maxRpcs <= MINIMAL_RPCS)} (target ≤ ${MINIMAL_RPCS})`);
  const ph = [0, 1, 2].map((i) => median(phases.slice(WARMUP).map((p) => p[i]!)));
  console.log(`    lifecycle phases (medians): start ${ph[0]!.toFixed(1)} ms, exit reported ${ph[1]!.toFixed(1)} ms, delete ${ph[2]!.toFixed(1)} ms`);
  console.log(`    ${Object.entries(byMethod).map(([k, v]) => `${k}=${v}`).join(" ")}`);
} finally {
  await agent.stop();
  await containerd.stop();
  // ctr puts its containers under /<namespace>/<id>: remove the empty parent it leaves.
  for (const controller of await readdir("/sys/fs/cgroup").catch(() => [] as string[])) {
    await rmdir(`/sys/fs/cgroup/${controller}/shoal-bench`).catch(() => undefined);
  }
  await nats.cleanup();
  await rm(base, { recursive: true, force: true });
  await rm(`/run/shoal-test/b-${tag}`, { recursive: true, force: true });
}
