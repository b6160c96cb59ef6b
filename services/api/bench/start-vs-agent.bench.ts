/**
 * Control-plane overhead of a start: StartContainer through the api (with a stand-in that
 * appends ContainerScheduled + ContainerIpcPrepared as soon as ContainerStartRequested is
 * published) against the same agent's StartContainer host command sent directly, on a
 * private containerd with a busybox rootfs. Both include the agent and containerd; the
 * difference is what the api and the event pipeline add. Run as root:
 *
 *   pnpm exec tsx services/api/bench/start-vs-agent.bench.ts [count]
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { sendHostCommand } from "@shoal/bus";
import { derivedEventId } from "@shoal/domain";
import { ensureBusyboxRootfs, startTestContainerd } from "@shoal/testing";
import { runContainerCommand } from "../src/api-context";
import { createApiTestBed } from "../src/testing/api-test-bed";

const count = Number(process.argv[2] ?? 30);
const tag = randomBytes(3).toString("hex");
const host = `b${tag}`;
const base = `/var/lib/shoal-test/api-bench-${tag}`;
const runDir = `/run/shoal-test/apib-${tag}`;
const rootfs = await ensureBusyboxRootfs();
const containerd = await startTestContainerd({ name: `api-bench-${tag}` });
const bed = await createApiTestBed();
const agent = spawn(process.execPath, ["--import", "tsx", path.join(process.cwd(), "services/runtime-agent/src/main.ts")], {
  env: {
    ...process.env,
    SHOAL_HOST: host,
    SHOAL_SUBJECT_PREFIX: bed.nats.prefix,
    SHOAL_CONTAINERD_SOCKET: containerd.socket,
    SHOAL_STATE_ROOT: path.join(base, "state"),
    SHOAL_RUN_DIR: runDir,
    SHOAL_METRICS_PORT: "0",
  },
  stdio: "ignore",
});
const send = (command: string, payload: unknown) =>
  sendHostCommand<any>(bed.nats.nc, { prefix: bed.nats.prefix, host, command, payload, timeoutMs: 60_000 });
try {
  for (let i = 0; ; i++) {
    try {
      await sendHostCommand(bed.nats.nc, { prefix: bed.nats.prefix, host, command: "ListContainers", payload: {}, timeoutMs: 500 });
      break;
    } catch {
      if (i > 300) throw new Error("agent did not answer");
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const plan = { mode: "private" as const, shmSizeBytes: 64 * 1024 * 1024 };
  const sub = bed.nats.nc.subscribe(`${bed.nats.prefix}.evt.container.ContainerStartRequested`, {
    callback: (_err, msg) => {
      const e = JSON.parse(new TextDecoder().decode(msg.data)) as { eventId: string; data: { containerId: string } };
      const containerId = e.data.containerId;
      void (async () => {
        const now = new Date().toISOString();
        await runContainerCommand({ store: bed.store }, { type: "RecordScheduled", data: { containerId, now, host } }, { eventIdOf: () => derivedEventId(`b-s:${e.eventId}`) });
        await runContainerCommand({ store: bed.store }, { type: "RecordIpcPrepared", data: { containerId, now, plan } }, { eventIdOf: () => derivedEventId(`b-i:${e.eventId}`) });
      })().catch((err: unknown) => console.error(err));
    },
  });
  await bed.nats.nc.flush();

  const viaApi: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < count + 1; i++) {
    // Alternate so both see the same machine conditions.
    const { id } = await bed.call<{ id: string }>("CreateContainer", { name: `api${i}`, rootfs, args: ["sleep", "1000"] });
    let t = performance.now();
    const res = await bed.call<{ failed: boolean; error: string }>("StartContainer", { container: id });
    if (res.failed) throw new Error(res.error);
    if (i > 0) viaApi.push(performance.now() - t);
    await bed.call("RemoveContainer", { container: id, force: true });

    const directId = randomBytes(32).toString("hex");
    t = performance.now();
    await send("StartContainer", { containerId: directId, rootfs: { dir: rootfs }, args: ["sleep", "1000"], ipcPlan: plan, runtime: { name: "runc", path: "/usr/sbin/runc" } });
    if (i > 0) direct.push(performance.now() - t);
    await send("DeleteContainer", { containerId: directId, force: true });
  }
  sub.unsubscribe();
  const p = (a: number[], q: number) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(q * a.length))]!;
  const row = (a: number[]) => ({ p50_ms: +p(a, 0.5).toFixed(1), p90_ms: +p(a, 0.9).toFixed(1), p99_ms: +p(a, 0.99).toFixed(1) });
  console.log(JSON.stringify({ count, viaApi: row(viaApi), agentDirect: row(direct), overhead_p50_ms: +(p(viaApi, 0.5) - p(direct, 0.5)).toFixed(1) }));
} finally {
  const exited = new Promise((r) => agent.once("exit", r));
  agent.kill("SIGTERM");
  await exited;
  await bed.close();
  await containerd.stop();
  await rm(base, { recursive: true, force: true });
  await rm(runDir, { recursive: true, force: true });
}
