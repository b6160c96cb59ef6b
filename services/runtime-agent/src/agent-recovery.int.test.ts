import { access, readdir, stat } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createAgentTestBed, newContainerId, RUNC } from "./agent-test-harness";
import type { AgentProcess, AgentTestBed } from "./agent-test-harness";

const execFileAsync = promisify(execFile);

// The agent as a real process: kill -9 while containers run, restart, and check that
// nothing was restarted, duplicated, leaked or reported twice.

let bed: AgentTestBed;
let agent: AgentProcess | undefined;
const MiB = 1024 * 1024;

beforeAll(async () => {
  bed = await createAgentTestBed("rec");
});

afterAll(async () => {
  await agent?.kill9().catch(() => undefined);
  await bed?.cleanup();
});

interface Started {
  pid: number;
  ipcNamespaceInode: number;
  runtime: { binaryPath: string };
}
interface Listed {
  containers: Array<{ containerId: string; status: string; pid?: number; live: boolean; runtime: { binaryPath: string } }>;
}

function start(id: string, ipcPlan: unknown, runtime: unknown = RUNC): Promise<Started> {
  return bed.send<Started>("StartContainer", { containerId: id, rootfs: { dir: bed.rootfs }, args: ["sleep", "1000"], ipcPlan, runtime });
}

async function exitedReports(id: string): Promise<Array<{ pid: number; exitCode: number; foundAtRecovery: boolean }>> {
  return (await bed.reports("ContainerExited"))
    .map((r) => r.payload as { containerId: string; pid: number; exitCode: number; foundAtRecovery: boolean })
    .filter((p) => p.containerId === id);
}

async function gone(pid: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (!(await access(`/proc/${pid}`).then(() => true, () => false))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`pid ${pid} still exists`);
}

async function mountsAtStateRoot(): Promise<number> {
  const { stdout } = await execFileAsync("findmnt", ["-n", "-o", "TARGET", "--mountpoint", bed.stateRoot]).catch(() => ({ stdout: "" }));
  return stdout.split("\n").filter((l) => l.trim() !== "").length;
}

describe("agent killed with SIGKILL while containers run", () => {
  it("adopts running containers without restarting them, reports missed exits once, and leaves no duplicated or leaked mount", async () => {
    agent = await bed.spawnAgentProcess();
    const owner = newContainerId();
    const member = newContainerId();
    const victim = newContainerId();
    // The owner's start makes its shm tmpfs (no MountShm first, as the control plane sends it).
    const shmMountPath = `${bed.stateRoot}/containers/${owner}/mounts/shm`;
    const o = await start(owner, { mode: "shareable", shmSizeBytes: 8 * MiB, shmMountPath });
    const m = await start(member, { mode: "container", ownerId: owner, ownerPid: o.pid, shmSizeBytes: 8 * MiB, shmMountPath });
    const v = await start(victim, { mode: "private", shmSizeBytes: MiB });
    const mountsBefore = (await bed.mountsUnderStateRoot()).sort();
    expect(mountsBefore).toContain(shmMountPath);
    expect(await mountsAtStateRoot()).toBe(1);

    await agent.kill9();
    // While the agent is down: one container exits, a stray shm mount appears for a
    // container that does not exist, and the owner's shm gets a second mount stacked on it.
    process.kill(v.pid, "SIGKILL");
    await gone(v.pid);
    const stray = `${bed.stateRoot}/containers/${newContainerId()}/mounts/shm`;
    await execFileAsync("mkdir", ["-p", stray]);
    await execFileAsync("mount", ["-t", "tmpfs", "-o", "size=1m", "shm", stray]);
    await execFileAsync("mount", ["-t", "tmpfs", "-o", "size=1m", "shm", shmMountPath]);

    agent = await bed.spawnAgentProcess();
    const listed = await bed.send<Listed>("ListContainers", {});
    const byId = new Map(listed.containers.map((c) => [c.containerId, c]));
    // Never restarted: the same init pids, still alive, still sharing one namespace.
    expect(byId.get(owner)).toMatchObject({ status: "running", pid: o.pid, live: true });
    expect(byId.get(member)).toMatchObject({ status: "running", pid: m.pid, live: true });
    expect((await stat(`/proc/${o.pid}/ns/ipc`)).ino).toBe(o.ipcNamespaceInode);
    expect((await stat(`/proc/${m.pid}/ns/ipc`)).ino).toBe(o.ipcNamespaceInode);
    expect(byId.get(victim)).toMatchObject({ status: "exited", live: false });
    // The exit that happened while the agent was down: reported once.
    const victimExits = await exitedReports(victim);
    expect(victimExits).toHaveLength(1);
    expect(victimExits[0]).toMatchObject({ pid: v.pid, exitCode: 137, foundAtRecovery: true });
    // No mount duplicated or leaked.
    expect((await bed.mountsUnderStateRoot()).sort()).toEqual(mountsBefore);
    expect(await mountsAtStateRoot()).toBe(1);

    // Adopted containers are fully operable: exec works, and the member still reads the owner's /dev/shm.
    await bed.send("ExecInContainer", { containerId: owner, args: ["sh", "-c", "echo still-here > /dev/shm/x"] });
    expect(await bed.send("ExecInContainer", { containerId: member, args: ["cat", "/dev/shm/x"] })).toMatchObject({ exitCode: 0, stdout: "still-here\n" });

    // A second crash and restart does not report the exit again.
    await agent.kill9();
    agent = await bed.spawnAgentProcess();
    expect(await exitedReports(victim)).toHaveLength(1);
    expect((await bed.mountsUnderStateRoot()).sort()).toEqual(mountsBefore);

    // Exits seen live are reported once too.
    await bed.send("StopContainer", { containerId: member, timeoutSeconds: 0 });
    await bed.send("StopContainer", { containerId: owner, timeoutSeconds: 0 });
    expect(await exitedReports(member)).toHaveLength(1);
    expect(await exitedReports(owner)).toHaveLength(1);
    for (const id of [member, owner, victim]) await bed.send("DeleteContainer", { containerId: id });
    await bed.send("UnmountShm", { containerId: owner });
    expect(await bed.mountsUnderStateRoot()).toEqual([]);

    // A clean shutdown undoes the state root's bind, and only then.
    expect(await agent.stop()).toBe(0);
    agent = undefined;
    expect(await mountsAtStateRoot()).toBe(0);
  });
});

describe("a runtime's args change while one of its containers runs", () => {
  it("the container keeps its locked-in wrapper: it can be exec'd into and stopped; stale wrappers go at the next agent start", async () => {
    agent = await bed.spawnAgentProcess();
    const before = newContainerId();
    const after = newContainerId();
    const v1 = { name: "custom", path: "/usr/sbin/runc", args: ["--log-format=json"] };
    const v2 = { name: "custom", path: "/usr/sbin/runc", args: ["--log-format=text"] };
    const a = await start(before, { mode: "private", shmSizeBytes: MiB }, v1);
    const b = await start(after, { mode: "private", shmSizeBytes: MiB }, v2);
    expect(a.runtime.binaryPath).not.toBe(b.runtime.binaryPath);
    expect(a.runtime.binaryPath.startsWith(`${bed.stateRoot}/`)).toBe(true);
    await access(a.runtime.binaryPath);
    await access(b.runtime.binaryPath);

    expect(await bed.send("ExecInContainer", { containerId: before, args: ["echo", "ok"] })).toMatchObject({ exitCode: 0, stdout: "ok\n" });
    const listed = await bed.send<Listed>("ListContainers", {});
    expect(listed.containers.find((c) => c.containerId === before)?.runtime.binaryPath).toBe(a.runtime.binaryPath);
    await bed.send("StopContainer", { containerId: before, timeoutSeconds: 0 });
    expect(await exitedReports(before)).toHaveLength(1);
    await bed.send("DeleteContainer", { containerId: before });

    // Restart: v1's wrapper has no live user any more and goes; v2's stays while `after` runs.
    expect(await agent.stop()).toBe(0);
    agent = await bed.spawnAgentProcess();
    await expect(access(a.runtime.binaryPath)).rejects.toThrow(/ENOENT/);
    await access(b.runtime.binaryPath);
    expect(await bed.send("ExecInContainer", { containerId: after, args: ["echo", "ok"] })).toMatchObject({ exitCode: 0 });
    await bed.send("StopContainer", { containerId: after, timeoutSeconds: 0 });
    await bed.send("DeleteContainer", { containerId: after });
    // Nothing of either container, nor of the stray mount recovery removed, is left.
    expect(await readdir(`${bed.stateRoot}/containers`)).toEqual([]);
  });
});

describe("a container writing while the agent is down", () => {
  it("keeps that output in its log: the logger is the shim's child, not the agent's", async () => {
    agent ??= await bed.spawnAgentProcess();
    const id = newContainerId();
    const script = "trap 'echo after; echo after-err >&2; exit 0' TERM; echo before; while :; do sleep 0.1; done";
    const s = await bed.send<Started>("StartContainer", {
      containerId: id,
      rootfs: { dir: bed.rootfs },
      args: ["sh", "-c", script],
      ipcPlan: { mode: "private", shmSizeBytes: MiB },
      runtime: RUNC,
    });
    await agent.kill9();
    agent = undefined;
    process.kill(s.pid, "SIGTERM");
    await gone(s.pid);

    agent = await bed.spawnAgentProcess();
    expect(await exitedReports(id)).toMatchObject([{ pid: s.pid, exitCode: 0, foundAtRecovery: true }]);
    const logs = await bed.send<{ stdout: string; stderr: string }>("ReadLogs", { containerId: id });
    expect((logs.stdout + logs.stderr).split("\n").filter(Boolean).sort()).toEqual(["after", "after-err", "before"]);
    await bed.send("DeleteContainer", { containerId: id });
  });
});

describe("a clean stop right after a start", () => {
  it("still publishes the start's ContainerStarted report, sent right after the reply, before the agent lets go of NATS", async () => {
    if (agent !== undefined) expect(await agent.stop()).toBe(0);
    agent = await bed.spawnAgentProcess();
    const id = newContainerId();
    const started = await start(id, { mode: "private", shmSizeBytes: MiB });
    expect(await agent.stop()).toBe(0);
    agent = undefined;

    const reports = (await bed.reports("ContainerStarted")).map((r) => r.payload as { containerId: string; pid: number }).filter((p) => p.containerId === id);
    expect(reports).toEqual([expect.objectContaining({ containerId: id, pid: started.pid })]);

    agent = await bed.spawnAgentProcess();
    await bed.send("StopContainer", { containerId: id, timeoutSeconds: 0 });
    await bed.send("DeleteContainer", { containerId: id });
  });
});
