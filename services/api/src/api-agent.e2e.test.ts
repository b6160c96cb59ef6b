import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendHostCommand } from "@shoal/bus";
import { containerStreamId } from "@shoal/domain";
import type { IpcPlan } from "@shoal/domain";
import { ensureBusyboxRootfs, startTestContainerd } from "@shoal/testing";
import type { TestContainerd } from "@shoal/testing";
import { createApiTestBed } from "./testing/api-test-bed";
import type { ApiTestBed } from "./testing/api-test-bed";

// The api against the real runtime agent (its main.ts as a process) on a private
// containerd with a busybox rootfs: the StartContainer payload the dispatcher builds is the
// one the agent takes, its reports are recorded, and stop/logs/exec/remove reach it.
// The test plays scheduler and mount-manager (private IPC needs no shm mount).

const tag = randomBytes(3).toString("hex");
const host = `e${tag}`;
const base = `/var/lib/shoal-test/api-e2e-${tag}`;
const runDir = `/run/shoal-test/api-${tag}`;
let bed: ApiTestBed;
let containerd: TestContainerd;
let agent: ChildProcess | undefined;
let rootfs: string;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("prerequisite missing: this test runs containers and must run as root");
  rootfs = await ensureBusyboxRootfs();
  containerd = await startTestContainerd({ name: `api-e2e-${tag}` });
  bed = await createApiTestBed();
  await mkdir(base, { recursive: true });
  agent = spawn(process.execPath, ["--import", "tsx", path.join(process.cwd(), "services/runtime-agent/src/main.ts")], {
    env: {
      ...process.env,
      SHOAL_HOST: host,
      SHOAL_SUBJECT_PREFIX: bed.nats.prefix,
      SHOAL_CONTAINERD_SOCKET: containerd.socket,
      SHOAL_STATE_ROOT: path.join(base, "state"),
      SHOAL_RUN_DIR: runDir,
      SHOAL_METRICS_PORT: "0",
    },
    stdio: ["ignore", "ignore", process.env.SHOAL_TEST_LOG ? "inherit" : "ignore"],
  });
  let gone = false;
  agent.once("exit", () => (gone = true));
  for (let i = 0; ; i++) {
    if (gone) throw new Error("the runtime agent exited before answering (SHOAL_TEST_LOG=info shows why)");
    try {
      await sendHostCommand(bed.nats.nc, { prefix: bed.nats.prefix, host, command: "ListContainers", payload: {}, timeoutMs: 500 });
      break;
    } catch {
      if (i > 300) throw new Error("the runtime agent did not answer within 60 s");
      await new Promise((r) => setTimeout(r, 200));
    }
  }
});

afterAll(async () => {
  if (agent && agent.exitCode === null) {
    const exited = new Promise((r) => agent!.once("exit", r));
    agent.kill("SIGTERM");
    await exited;
  }
  await bed?.close();
  await containerd?.stop();
  await rm(base, { recursive: true, force: true });
  await rm(runDir, { recursive: true, force: true });
});

const privatePlan: IpcPlan = { mode: "private", shmSizeBytes: 64 * 1024 * 1024 };

describe("api with the real runtime agent", () => {
  it("starts a busybox container, reads its logs, execs in it, stops and removes it", async () => {
    const { id } = await bed.call<{ id: string }>("CreateContainer", {
      name: "real",
      rootfs,
      args: ["sh", "-c", "echo hello from shoal; exec sleep 1000"],
    });
    const res = await bed.start("real", privatePlan, host);
    expect(res).toMatchObject({ id, failed: false, host });
    expect(res.pid).toBeGreaterThan(1);
    const started = (await bed.store.readStream(containerStreamId(id))).find((e) => e.type === "ContainerStarted")!;
    expect(started.data).toMatchObject({ pid: res.pid, runtime: { name: "runc" }, configVersion: 1 });
    expect((started.data as { ipcNamespaceInode?: number }).ipcNamespaceInode).toBeGreaterThan(0);

    await expect
      .poll(async () => Buffer.from((await bed.call<any>("ContainerLogs", { container: "real" })).output).toString(), { timeout: 10_000 })
      .toContain("hello from shoal");
    const ex = await bed.call<any>("ExecInContainer", { container: "real", args: ["sh", "-c", "echo $((6*7)); exit 4"] });
    expect({ exitCode: ex.exitCode, stdout: Buffer.from(ex.stdout).toString() }).toEqual({ exitCode: 4, stdout: "42\n" });

    await bed.call("StopContainer", { container: "real", timeoutSeconds: 1 });
    const info = (await bed.call<any>("InspectContainer", { container: "real" })).container;
    expect(info.state).toMatchObject({ status: "exited", running: false });
    expect([137, 143]).toContain(info.state.exitCode);

    await bed.call("RemoveContainer", { container: "real" });
    expect((await bed.store.readStream(containerStreamId(id))).at(-1)!.type).toBe("ContainerRemoved");
    const onHost = await sendHostCommand<{ containers: { containerId: string }[] }>(bed.nats.nc, {
      prefix: bed.nats.prefix,
      host,
      command: "ListContainers",
      payload: {},
      timeoutMs: 5_000,
    });
    expect(onHost.containers.map((c) => c.containerId)).not.toContain(id);
  });

  it("returns the agent's start failure with Docker's exit code", async () => {
    await bed.call("CreateContainer", { name: "missing-cmd", rootfs, args: ["/no/such/binary"] });
    const res = await bed.start("missing-cmd", privatePlan, host);
    expect(res).toMatchObject({ failed: true, exitCode: 127 });
    expect(res.error).toMatch(/no such file or directory|not found/i);
  });
});
