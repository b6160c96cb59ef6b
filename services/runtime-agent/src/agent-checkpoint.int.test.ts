import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentTestBed, newContainerId, RUNC } from "./agent-test-harness";
import type { AgentTestBed } from "./agent-test-harness";

// Checkpoint and restore on one host, through the agent's commands over NATS, with a real
// containerd, runc and CRIU: the process goes on counting where it stopped, and a shareable
// owner's /dev/shm comes back with it.

let bed: AgentTestBed;
const MiB = 1024 * 1024;
const COUNT = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; echo $i > /dev/shm/count 2>/dev/null; sleep 0.05; done"];

beforeAll(async () => {
  bed = await createAgentTestBed("checkpoint");
  await bed.startInProcessAgent();
});

afterAll(async () => {
  await bed?.cleanup();
});

type Stored = { digest: string; sizeBytes: number; shmSaved: boolean };

async function exec(id: string, args: string[]): Promise<string> {
  const r = await bed.send<{ exitCode: number; stdout: string; stderr: string }>("ExecInContainer", { containerId: id, args, timeoutMs: 20_000 });
  expect(r.stderr).toBe("");
  return r.stdout.trim();
}

/** StartContainer of the counting loop; from checkpoint `digest` (cp1) when given. */
function start(id: string, ipcPlan: object, from?: { digest: string; replicated: boolean }): Promise<{ pid: number }> {
  return bed.send("StartContainer", {
    containerId: id,
    rootfs: { dir: bed.rootfs },
    args: COUNT,
    ipcPlan,
    runtime: RUNC,
    ...(from !== undefined ? { restore: { name: "cp1", ...from } } : {}),
  });
}

async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function exitedReported(id: string): Promise<boolean> {
  return (await bed.reports("ContainerExited")).some((r) => (r.payload as { containerId: string }).containerId === id);
}

describe.each([
  ["private", (_id: string) => ({ mode: "private", shmSizeBytes: 8 * MiB })],
  ["shareable", (id: string) => ({ mode: "shareable", shmSizeBytes: 8 * MiB, shmMountPath: join(bed.stateRoot, "containers", id, "mounts", "shm") })],
])("%s", (mode, plan) => {
  it("checkpoints a counting loop, which goes on counting from where it was once restored, with its /dev/shm", async () => {
    const id = newContainerId();
    const ipcPlan = plan(id);
    await start(id, ipcPlan);
    // The loop truncates its file and then writes it: a read in between is read again.
    const countIn = async (file: string) => {
      for (let attempt = 0; attempt < 20; attempt++) {
        const text = String(await exec(id, ["cat", file])).trim();
        if (text !== "") return Number(text);
        await new Promise((r) => setTimeout(r, 10));
      }
      return 0;
    };
    let before = 0;
    await waitFor(async () => (before = await countIn("/tmp/count")) > 5);
    const stored = await bed.send<Stored>("CheckpointContainers", {
      name: "cp1",
      containerIds: [id],
      ...(mode === "shareable" ? { shmOwnerId: id } : {}),
      leaveRunning: false,
    });
    expect(stored.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(stored.shmSaved).toBe(mode === "shareable");
    await waitFor(() => exitedReported(id));
    const dir = join(bed.stateRoot, "checkpoints", stored.digest.slice(7));
    expect(existsSync(join(dir, "checkpoint.json"))).toBe(true);
    const saved = await import("node:fs/promises").then((fs) => fs.readFile(join(dir, "containers", id, "upper", "tmp", "count"), "utf8"));
    // Dumped between the loop's truncation of its file and its write (seen under CI load), the saved file is empty.
    const at = saved.trim() === "" ? before : Number(saved);
    expect(at).toBeGreaterThanOrEqual(before);
    if (mode === "shareable") {
      // The owner's tmpfs is emptied, as a stale mount would be, before the restore refills it.
      await bed.send("UnmountShm", { containerId: id });
    }

    const restored = await start(id, ipcPlan, { digest: stored.digest, replicated: false });
    expect(restored.pid).toBeGreaterThan(0);
    // In the container's own cgroup again (CRIU leaves cgroups to runc, which puts the restore there).
    const cgroups = await import("node:fs/promises").then((fs) => fs.readFile(`/proc/${restored.pid}/cgroup`, "utf8"));
    expect(cgroups).toContain(`/${id}`);
    const after = await countIn("/tmp/count");
    // It went on from the count it had, not from 1.
    expect(after).toBeGreaterThanOrEqual(at);
    await waitFor(async () => (await countIn("/tmp/count")) > after);
    if (mode === "shareable") expect(await countIn("/dev/shm/count")).toBeGreaterThanOrEqual(at);
    // Nothing of the restore is left behind.
    expect((await readdir(join(bed.stateRoot, "checkpoints"))).filter((n) => n.startsWith("."))).toEqual([]);
    await bed.send("StopContainer", { containerId: id, timeoutSeconds: 1 });

    // Copied to the replica store and removed here, it is fetched back (its digest checked) for a restore.
    expect(await bed.send("ReplicateCheckpoint", { digest: stored.digest })).toMatchObject({ replicated: true });
    expect(await bed.send("RemoveCheckpoint", { digest: stored.digest })).toEqual({ removed: true });
    expect(existsSync(dir)).toBe(false);
    if (mode === "shareable") await bed.send("UnmountShm", { containerId: id });
    const fetched = await start(id, ipcPlan, { digest: stored.digest, replicated: true });
    expect(fetched.pid).toBeGreaterThan(0);
    expect(Number(await exec(id, ["cat", "/tmp/count"]))).toBeGreaterThanOrEqual(at);
    expect(existsSync(dir)).toBe(true);
    await bed.send("StopContainer", { containerId: id, timeoutSeconds: 1 });
    await bed.send("DeleteContainer", { containerId: id });
    if (mode === "shareable") await bed.send("UnmountShm", { containerId: id });
  }, 60_000);
});

describe("a checkpoint this host cannot restore", () => {
  it("is refused naming what differs, never started fresh, and leaves nothing behind", async () => {
    const id = newContainerId();
    const ipcPlan = { mode: "private", shmSizeBytes: 8 * MiB };
    await start(id, ipcPlan);
    await waitFor(async () => Number(await exec(id, ["cat", "/tmp/count"])) > 2);
    const stored = await bed.send<Stored>("CheckpointContainers", { name: "cp1", containerIds: [id], leaveRunning: false });
    await waitFor(() => exitedReported(id));
    // As if made where CRIU is newer than here.
    const file = join(bed.stateRoot, "checkpoints", stored.digest.slice(7), "checkpoint.json");
    const fs = await import("node:fs/promises");
    const metadata = JSON.parse(await fs.readFile(file, "utf8"));
    metadata.made.criuVersion = "99.1";
    await fs.writeFile(file, JSON.stringify(metadata));
    const started = (await bed.reports("ContainerStarted")).length;
    await expect(
      start(id, ipcPlan, { digest: stored.digest, replicated: false }),
    ).rejects.toThrow(/checkpoint cannot be restored on host \S+: CRIU \S+ is older than the checkpoint's 99\.1/);
    expect((await bed.reports("ContainerStarted")).length).toBe(started);
    expect(await bed.send<{ containers: { containerId: string; live: boolean }[] }>("ListContainers", {})).toMatchObject({
      containers: expect.arrayContaining([expect.objectContaining({ containerId: id, live: false })]),
    });
    expect((await readdir(join(bed.stateRoot, "checkpoints"))).filter((n) => n.startsWith("."))).toEqual([]);
    await bed.send("DeleteContainer", { containerId: id });
  }, 60_000);
});
