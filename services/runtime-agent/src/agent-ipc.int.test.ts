import { readFile, readlink, stat, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentTestBed, newContainerId, RUNC } from "./agent-test-harness";
import type { AgentTestBed } from "./agent-test-harness";

// Each IPC mode proven from inside running containers on a real containerd, with commands
// sent over NATS exactly as the control plane sends them.

let bed: AgentTestBed;
const MiB = 1024 * 1024;

beforeAll(async () => {
  bed = await createAgentTestBed("ipc");
  await bed.startInProcessAgent();
});

afterAll(async () => {
  await bed?.cleanup();
});

interface Started {
  pid: number;
  ipcNamespaceInode: number;
}

async function start(id: string, ipcPlan: unknown, args = ["sleep", "1000"]): Promise<Started> {
  return bed.send<Started>("StartContainer", { containerId: id, rootfs: { dir: bed.rootfs }, args, ipcPlan, runtime: RUNC });
}

async function exec(id: string, args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return bed.send("ExecInContainer", { containerId: id, args, timeoutMs: 20_000 });
}

async function remove(id: string): Promise<void> {
  await bed.send("StopContainer", { containerId: id, timeoutSeconds: 1 });
  await bed.send("DeleteContainer", { containerId: id });
}

/** The size= option of the /dev/shm tmpfs as /proc/mounts shows it inside the container, or undefined. */
async function devShmSizeKiB(id: string): Promise<number | undefined> {
  const r = await exec(id, ["cat", "/proc/mounts"]);
  expect(r.exitCode).toBe(0);
  const line = r.stdout.split("\n").find((l) => l.split(" ")[1] === "/dev/shm");
  if (line === undefined) return undefined;
  expect(line.split(" ")[2]).toBe("tmpfs");
  const size = /size=(\d+)k/.exec(line)?.[1];
  return size === undefined ? undefined : Number(size);
}

async function nsInside(id: string): Promise<string> {
  const r = await exec(id, ["readlink", "/proc/self/ns/ipc"]);
  expect(r.exitCode).toBe(0);
  return r.stdout.trim();
}

describe("private", () => {
  it("gets its own ipc namespace and a /dev/shm tmpfs of the requested size inside the container, and no host mount", async () => {
    const id = newContainerId();
    const mountsBefore = await bed.mountsUnderStateRoot();
    const started = await start(id, { mode: "private", shmSizeBytes: 32 * MiB });
    expect(started.pid).toBeGreaterThan(0);

    expect(await nsInside(id)).not.toBe(await readlink("/proc/self/ns/ipc"));
    expect(started.ipcNamespaceInode).toBe((await stat(`/proc/${started.pid}/ns/ipc`)).ino);
    expect(await devShmSizeKiB(id)).toBe(32 * 1024);
    expect(await bed.mountsUnderStateRoot()).toEqual(mountsBefore);

    // The container's stdout reaches its log file.
    const echo = newContainerId();
    await start(echo, { mode: "private", shmSizeBytes: MiB }, ["sh", "-c", "echo out-line; echo err-line >&2"]);
    await waitFor(async () => (await bed.reports("ContainerExited")).some((r) => (r.payload as { containerId: string }).containerId === echo));
    const logs = await bed.send<{ stdout: string; stderr: string }>("ReadLogs", { containerId: echo });
    // Both streams go to the one log (two pipes, so no order between them).
    expect((logs.stdout + logs.stderr).split("\n").filter(Boolean).sort()).toEqual(["err-line", "out-line"]);
    await bed.send("DeleteContainer", { containerId: echo });

    await remove(id);
    const started1 = await bed.reports("ContainerStarted");
    expect(started1.some((r) => (r.payload as { containerId: string; pid: number }).pid === started.pid)).toBe(true);
  });
});

describe("shareable owner and container: member", () => {
  it("share one ipc namespace, /dev/shm files and System V segments; a private container sees none of it", async () => {
    const owner = newContainerId();
    const member = newContainerId();
    const loner = newContainerId();
    const { shmMountPath } = await bed.send<{ shmMountPath: string }>("MountShm", { containerId: owner, sizeBytes: 16 * MiB });
    // Idempotent: a second MountShm keeps the one mount.
    await bed.send("MountShm", { containerId: owner, sizeBytes: 16 * MiB });
    expect((await bed.mountsUnderStateRoot()).filter((p) => p === shmMountPath)).toHaveLength(1);

    const o = await start(owner, { mode: "shareable", shmSizeBytes: 16 * MiB, shmMountPath });
    const m = await start(member, { mode: "container", ownerId: owner, ownerPid: o.pid, shmSizeBytes: 16 * MiB, shmMountPath });
    await start(loner, { mode: "private", shmSizeBytes: 16 * MiB });

    // Same namespace, compared while both are alive.
    expect(m.ipcNamespaceInode).toBe(o.ipcNamespaceInode);
    expect(await nsInside(member)).toBe(await nsInside(owner));
    expect(await nsInside(loner)).not.toBe(await nsInside(owner));

    // A file in /dev/shm written by one is read by the other.
    expect((await exec(owner, ["sh", "-c", "echo hello-from-owner > /dev/shm/note"])).exitCode).toBe(0);
    expect((await exec(member, ["cat", "/dev/shm/note"])).stdout).toBe("hello-from-owner\n");
    expect((await exec(member, ["sh", "-c", "echo reply > /dev/shm/back"])).exitCode).toBe(0);
    expect((await exec(owner, ["cat", "/dev/shm/back"])).stdout).toBe("reply\n");
    expect((await exec(loner, ["ls", "/dev/shm"])).stdout).toBe("");

    // A System V segment made by the owner is visible to the member, not to the private one.
    const made = await exec(owner, ["/bin/shmget", "4242"]);
    expect(made.exitCode).toBe(0);
    const keysIn = async (id: string) =>
      (await exec(id, ["cat", "/proc/sysvipc/shm"])).stdout
        .split("\n")
        .slice(1)
        .map((l) => l.trim().split(/\s+/)[0])
        .filter((k) => k !== undefined && k !== "");
    expect(await keysIn(member)).toContain("4242");
    expect(await keysIn(loner)).not.toContain("4242");

    // The member's /dev/shm is the owner's tmpfs, with the owner's size.
    expect(await devShmSizeKiB(member)).toBe(16 * 1024);
    expect(await devShmSizeKiB(owner)).toBe(16 * 1024);

    // The group's shm cannot be unmounted while a member runs.
    await remove(owner);
    await expect(bed.send("UnmountShm", { containerId: owner })).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
      message: expect.stringContaining(member),
    });
    await remove(member);
    await remove(loner);
    // The owner's shm mount outlives the owner until an explicit UnmountShm.
    expect(await bed.mountsUnderStateRoot()).toContain(shmMountPath);
    await bed.send("UnmountShm", { containerId: owner });
    expect(await bed.mountsUnderStateRoot()).not.toContain(shmMountPath);
  });
});

describe("shareable owner: the start makes its shm tmpfs", () => {
  const ownPath = (id: string) => `${bed.stateRoot}/containers/${id}/mounts/shm`;
  /** The size= option of the tmpfs at `path` in the host's mount table, in bytes, or undefined when nothing is mounted there. */
  const hostShmSize = async (path: string): Promise<number | undefined> => {
    const line = (await readFile("/proc/self/mountinfo", "utf8")).split("\n").find((l) => l.split(" ")[4] === path);
    if (line === undefined) return undefined;
    const size = /size=(\d+)k/.exec(line)?.[1];
    return size === undefined ? undefined : Number(size) * 1024;
  };
  /** `df -k /dev/shm` inside the container: its filesystem and size in KiB. */
  const dfShm = async (id: string): Promise<{ filesystem: string; kib: number }> => {
    const r = await exec(id, ["df", "-k", "/dev/shm"]);
    expect(r.exitCode).toBe(0);
    const cols = r.stdout.trim().split("\n").at(-1)!.trim().split(/\s+/);
    return { filesystem: cols[0]!, kib: Number(cols[1]) };
  };

  it("with no MountShm before, the owner runs with a host tmpfs of the plan's size as its /dev/shm", async () => {
    const owner = newContainerId();
    const path = ownPath(owner);
    expect(await hostShmSize(path)).toBeUndefined();

    await start(owner, { mode: "shareable", shmSizeBytes: 24 * MiB, shmMountPath: path });

    expect(await hostShmSize(path)).toBe(24 * MiB);
    expect((await bed.mountsUnderStateRoot()).filter((p) => p === path)).toHaveLength(1);
    // Seen as /dev/shm inside, with the plan's size: the host tmpfs, not a private one.
    expect(await dfShm(owner)).toEqual({ filesystem: "shm", kib: 24 * 1024 });
    expect((await exec(owner, ["sh", "-c", "echo inside > /dev/shm/probe"])).exitCode).toBe(0);
    expect(await readFile(`${path}/probe`, "utf8")).toBe("inside\n");

    // A MountShm afterwards (a redelivered order) keeps the one mount.
    expect(await bed.send("MountShm", { containerId: owner, sizeBytes: 24 * MiB })).toEqual({ shmMountPath: path, created: false });
    expect((await bed.mountsUnderStateRoot()).filter((p) => p === path)).toHaveLength(1);

    // A running owner's shm cannot be unmounted; after the owner has gone, UnmountShm removes it.
    await expect(bed.send("UnmountShm", { containerId: owner })).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
    await remove(owner);
    expect(await bed.mountsUnderStateRoot()).toContain(path);
    await bed.send("UnmountShm", { containerId: owner });
    expect(await bed.mountsUnderStateRoot()).not.toContain(path);
    await expect(stat(`${bed.stateRoot}/containers/${owner}`)).rejects.toThrow(/ENOENT/);
  });

  it("a failed start (exit code 127) takes back the tmpfs it made and leaves nothing behind", async () => {
    const owner = newContainerId();
    const mountsBefore = await bed.mountsUnderStateRoot();
    await expect(start(owner, { mode: "shareable", shmSizeBytes: MiB, shmMountPath: ownPath(owner) }, ["/bin/no-such-command"])).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
      message: expect.stringContaining("exit code 127"),
    });
    const report = (await bed.reports("ContainerStartFailed")).find((r) => (r.payload as { containerId: string }).containerId === owner);
    expect(report?.payload).toMatchObject({ containerId: owner, exitCode: 127 });
    expect(await bed.mountsUnderStateRoot()).toEqual(mountsBefore);
    await expect(stat(`${bed.stateRoot}/containers/${owner}`)).rejects.toThrow(/ENOENT/);
    await expect(bed.agent!.containerd.loadContainer(owner)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("a failed start leaves a tmpfs that was mounted before it alone, contents included", async () => {
    const owner = newContainerId();
    const path = ownPath(owner);
    await bed.send("MountShm", { containerId: owner, sizeBytes: 2 * MiB });
    await writeFile(`${path}/kept`, "kept\n");

    await expect(start(owner, { mode: "shareable", shmSizeBytes: 2 * MiB, shmMountPath: path }, ["/bin/no-such-command"])).rejects.toMatchObject({
      message: expect.stringContaining("exit code 127"),
    });

    expect((await bed.mountsUnderStateRoot()).filter((p) => p === path)).toHaveLength(1);
    expect(await readFile(`${path}/kept`, "utf8")).toBe("kept\n");
    await bed.send("UnmountShm", { containerId: owner });
    expect(await bed.mountsUnderStateRoot()).not.toContain(path);
  });

  it("refuses a plan whose shm path is not this agent's path for the owner, naming both, and mounts nothing", async () => {
    const owner = newContainerId();
    const elsewhere = `/var/lib/shoal/containers/${owner}/mounts/shm`;
    const mountsBefore = await bed.mountsUnderStateRoot();
    const refused = start(owner, { mode: "shareable", shmSizeBytes: MiB, shmMountPath: elsewhere });
    await expect(refused).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
    const message = await refused.catch((err: Error) => err.message);
    expect(message).toContain(elsewhere);
    expect(message).toContain(ownPath(owner));
    expect(await bed.mountsUnderStateRoot()).toEqual(mountsBefore);
    await expect(stat(elsewhere)).rejects.toThrow(/ENOENT/);
    await expect(stat(`${bed.stateRoot}/containers/${owner}`)).rejects.toThrow(/ENOENT/);
    const report = (await bed.reports("ContainerStartFailed")).find((r) => (r.payload as { containerId: string }).containerId === owner);
    expect((report?.payload as { reason?: string } | undefined)?.reason).toContain(elsewhere);
  });
});

describe("none and host", () => {
  it("none has no /dev/shm at all", async () => {
    const id = newContainerId();
    await start(id, { mode: "none" });
    const mounts = await exec(id, ["cat", "/proc/mounts"]);
    expect(mounts.stdout.split("\n").some((l) => l.split(" ")[1] === "/dev/shm")).toBe(false);
    expect(await nsInside(id)).not.toBe(await readlink("/proc/self/ns/ipc"));
    await remove(id);
  });

  it("host shares the agent's own ipc namespace", async () => {
    const id = newContainerId();
    const started = await start(id, { mode: "host" });
    const agentNs = await stat("/proc/self/ns/ipc");
    expect(started.ipcNamespaceInode).toBe(agentNs.ino);
    expect(await nsInside(id)).toBe(await readlink("/proc/self/ns/ipc"));
    await remove(id);
  });
});

describe("failed starts", () => {
  it("joining an owner that is not running fails clearly and leaves nothing behind", async () => {
    const owner = newContainerId();
    const member = newContainerId();
    const { shmMountPath } = await bed.send<{ shmMountPath: string }>("MountShm", { containerId: owner, sizeBytes: MiB });
    const o = await start(owner, { mode: "shareable", shmSizeBytes: MiB, shmMountPath });
    await bed.send("StopContainer", { containerId: owner, timeoutSeconds: 0 });
    const mountsBefore = await bed.mountsUnderStateRoot();

    await expect(
      start(member, { mode: "container", ownerId: owner, ownerPid: o.pid, shmSizeBytes: MiB, shmMountPath }),
    ).rejects.toThrow(`container ${owner} is not running`);

    expect(await bed.mountsUnderStateRoot()).toEqual(mountsBefore);
    await expect(stat(`${bed.stateRoot}/containers/${member}`)).rejects.toThrow(/ENOENT/);
    await expect(bed.agent!.containerd.loadContainer(member)).rejects.toMatchObject({ code: "NOT_FOUND" });
    const failed = (await bed.reports("ContainerStartFailed")).map((r) => r.payload as { containerId: string; reason: string });
    expect(failed.find((f) => f.containerId === member)?.reason).toContain("is not running");

    await bed.send("DeleteContainer", { containerId: owner });
    await bed.send("UnmountShm", { containerId: owner });
    // An owner this host does not know at all is NOT_FOUND.
    await expect(
      start(member, { mode: "container", ownerId: newContainerId(), ownerPid: 1, shmSizeBytes: MiB, shmMountPath }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it.each([
    ["a missing command", 127, ["/bin/no-such-command"]],
    ["a non-executable file", 126, ["/etc/passwd"]],
  ])("%s gives exit code %i in the reply and in ContainerStartFailed, and is undone", async (_what, code, args) => {
    const id = newContainerId();
    const mountsBefore = await bed.mountsUnderStateRoot();
    await expect(start(id, { mode: "private", shmSizeBytes: MiB }, args)).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
      message: expect.stringContaining(`exit code ${code}`),
    });
    const report = (await bed.reports("ContainerStartFailed")).find((r) => (r.payload as { containerId: string }).containerId === id);
    expect(report?.payload).toMatchObject({ containerId: id, exitCode: code });
    expect(await bed.mountsUnderStateRoot()).toEqual(mountsBefore);
    await expect(stat(`${bed.stateRoot}/containers/${id}`)).rejects.toThrow(/ENOENT/);
    await expect(bed.agent!.containerd.loadContainer(id)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("a directory mounted onto a file", () => {
  it("fails with 127 and Docker's hint", async () => {
    const id = newContainerId();
    await expect(
      bed.send("StartContainer", {
        containerId: id,
        rootfs: { dir: bed.rootfs },
        args: ["true"],
        ipcPlan: { mode: "private", shmSizeBytes: MiB },
        mounts: [{ source: "/etc", destination: "/etc/passwd" }],
        runtime: RUNC,
      }),
    ).rejects.toThrow(/exit code 127.*Are you trying to mount a directory onto a file/);
    const report = (await bed.reports("ContainerStartFailed")).find((r) => (r.payload as { containerId: string }).containerId === id);
    expect(report?.payload).toMatchObject({ exitCode: 127, reason: expect.stringContaining("Are you trying to mount a directory onto a file") });
    await expect(stat(`${bed.stateRoot}/containers/${id}`)).rejects.toThrow(/ENOENT/);
  });
});

describe("metrics", () => {
  it("serves containerd RPC counts by service and method and the container gauge, without container ids", async () => {
    const res = await fetch(`http://127.0.0.1:${bed.agent!.metricsPort}/metrics`);
    const text = await res.text();
    expect(text).toMatch(/shoal_containerd_rpcs_total\{service="Tasks",method="Create"\} \d+/);
    expect(text).toMatch(/^shoal_agent_containers \d+$/m);
    expect(text).not.toMatch(/[0-9a-f]{64}/);
  });
});

async function waitFor(check: () => Promise<boolean>, what = "condition"): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} not reached`);
}


