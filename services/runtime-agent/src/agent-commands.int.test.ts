import { existsSync } from "node:fs";
import { release } from "node:os";
import { createInbox } from "@nats-io/nats-core";
import { decodeHostReport, hostCommandSubject, subscribeHeartbeats } from "@shoal/bus";
import type { HostHeartbeat } from "@shoal/bus";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentTestBed, newContainerId, RUNC } from "./agent-test-harness";
import type { AgentTestBed } from "./agent-test-harness";
import { containerPaths } from "./container-store";

// Registration, heartbeats and the lifecycle commands besides start, over NATS.

let bed: AgentTestBed;
const MiB = 1024 * 1024;

beforeAll(async () => {
  bed = await createAgentTestBed("cmd");
  await bed.startInProcessAgent();
});

afterAll(async () => {
  await bed?.cleanup();
});

function start(id: string, args: string[]): Promise<{ pid: number }> {
  return bed.send("StartContainer", { containerId: id, rootfs: { dir: bed.rootfs }, args, ipcPlan: { mode: "private", shmSizeBytes: MiB }, runtime: RUNC });
}

describe("registration and heartbeats", () => {
  it("publishes HostRegistered with the host's capabilities, and heartbeats", async () => {
    const registered = await bed.reports("HostRegistered");
    expect(registered).toHaveLength(1);
    const caps = (registered[0]!.payload as { capabilities: Record<string, unknown> }).capabilities;
    expect(caps).toMatchObject({
      kernelVersion: release(),
      cgroupVersion: expect.stringMatching(/^v[12]$/),
      apparmor: { enabled: expect.any(Boolean) },
      // The mount-manager plans owners' shm paths with it.
      stateRoot: bed.stateRoot,
    });
    const runc = (caps.runtimes as Array<Record<string, unknown>>)[0]!;
    expect(runc).toMatchObject({ name: "runc", features: expect.objectContaining({ ociVersionMin: expect.any(String) }) });
    expect(runc.rro).toEqual(expect.objectContaining({ supported: expect.any(Boolean) }));
    // criu: the setup installs a working CRIU 4.2 or newer (scripts/lib.sh ensure_criu).
    expect(caps.criu).toMatchObject({ available: true, message: expect.stringContaining("Looks good"), version: expect.stringMatching(/^4\.([2-9]|\d\d)/) });

    const beat = await new Promise<HostHeartbeat>((resolve) => {
      const sub = subscribeHeartbeats(bed.nats.nc, {
        prefix: bed.nats.prefix,
        onHeartbeat: (b) => {
          if (b.host === bed.host) {
            void sub.stop();
            resolve(b);
          }
        },
      });
    });
    expect(beat.details).toEqual({ containers: expect.any(Number), images: expect.any(Array) });
  });
});

describe("lifecycle commands", () => {
  it("stop sends SIGTERM first: a process that handles it exits with its own code", async () => {
    const id = newContainerId();
    await start(id, ["sh", "-c", "trap 'exit 3' TERM; touch /tmp/trapped; while true; do sleep 0.1; done"]);
    // Wait until the shell has installed its trap.
    for (let i = 0; (await bed.send<{ exitCode: number }>("ExecInContainer", { containerId: id, args: ["test", "-e", "/tmp/trapped"] })).exitCode !== 0; i++) {
      if (i > 200) throw new Error("the shell never installed its trap");
    }
    expect(await bed.send("StopContainer", { containerId: id, timeoutSeconds: 30 })).toMatchObject({ exitCode: 3, killed: false });
    await bed.send("DeleteContainer", { containerId: id });
  });

  it("stop sends SIGKILL after the timeout to a process that ignores SIGTERM", async () => {
    const id = newContainerId();
    await start(id, ["sleep", "1000"]); // pid 1 without a handler ignores SIGTERM
    expect(await bed.send("StopContainer", { containerId: id, timeoutSeconds: 0 })).toMatchObject({ exitCode: 137, killed: true });
    expect(await bed.send("StopContainer", { containerId: id, timeoutSeconds: 0 })).toMatchObject({ alreadyStopped: true, exitCode: 137 });
    await bed.send("DeleteContainer", { containerId: id });
  });

  it("pause freezes the container and unpause resumes it; kill delivers the signal", async () => {
    const id = newContainerId();
    const { pid } = await start(id, ["sleep", "1000"]);
    await bed.send("PauseContainer", { containerId: id });
    const state = async () => (await bed.agent!.containerd.loadTask(id).then((t) => t.state())).status;
    expect(await state()).toBe("paused");
    await expect(bed.send("ExecInContainer", { containerId: id, args: ["true"] })).rejects.toThrow(/is paused/);
    await bed.send("UnpauseContainer", { containerId: id });
    expect(await state()).toBe("running");
    await expect(bed.send("KillContainer", { containerId: id, signal: "SIGNOPE" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await bed.send("KillContainer", { containerId: id, signal: "KILL" });
    const exited = await waitForExit(id);
    expect(exited).toMatchObject({ pid, exitCode: 137 });
    await bed.send("DeleteContainer", { containerId: id });
  });

  it("stop of a paused container kills and thaws it", async () => {
    const id = newContainerId();
    await start(id, ["sleep", "1000"]);
    await bed.send("PauseContainer", { containerId: id });
    expect(await bed.send("StopContainer", { containerId: id, timeoutSeconds: 30 })).toMatchObject({ exitCode: 137, killed: true });
    await bed.send("DeleteContainer", { containerId: id });
  });

  it("exec returns exit code and output, and a timed-out exec is killed and reported as ABORTED", async () => {
    const id = newContainerId();
    await start(id, ["sleep", "1000"]);
    expect(await bed.send("ExecInContainer", { containerId: id, args: ["sh", "-c", "echo hi; exit 5"] })).toEqual({
      exitCode: 5,
      stdout: "hi\n",
      stderr: "",
    });
    await expect(bed.send("ExecInContainer", { containerId: id, args: ["sleep", "1000"], timeoutMs: 200 })).rejects.toMatchObject({
      code: "ABORTED",
    });
    await expect(bed.send("ExecInContainer", { containerId: id, args: ["/no/such/binary"] })).rejects.toThrow(/exit code 127/);
    // The container itself is unaffected.
    expect(await bed.send("ExecInContainer", { containerId: id, args: ["true"] })).toMatchObject({ exitCode: 0 });
    await expect(bed.send("DeleteContainer", { containerId: id })).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
    await bed.send("DeleteContainer", { containerId: id, force: true });
    await expect(bed.send("ExecInContainer", { containerId: id, args: ["true"] })).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
  });

  it("logs keep the container's output after it exits; tail gives the last lines", async () => {
    const id = newContainerId();
    await start(id, ["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done"]);
    await waitForExit(id);
    expect((await bed.send<{ stdout: string }>("ReadLogs", { containerId: id })).stdout).toBe("line1\nline2\nline3\nline4\nline5\n");
    expect((await bed.send<{ stdout: string }>("ReadLogs", { containerId: id, tail: 2 })).stdout).toBe("line4\nline5\n");
    await bed.send("DeleteContainer", { containerId: id });
    await expect(bed.send("ReadLogs", { containerId: id })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("a start whose rootfs is missing or not a directory is refused with FAILED_PRECONDITION and leaves nothing", async () => {
    for (const dir of [`${bed.rootfs}-missing`, `${bed.rootfs}/bin/sh`, `${bed.rootfs}/bin/sh/below-a-file`]) {
      const id = newContainerId();
      await expect(
        bed.send("StartContainer", { containerId: id, rootfs: { dir }, args: ["true"], ipcPlan: { mode: "private", shmSizeBytes: MiB }, runtime: RUNC }),
      ).rejects.toMatchObject({ code: "FAILED_PRECONDITION", message: expect.stringContaining(`rootfs ${dir}: no such directory`) });
      expect(existsSync(containerPaths(bed.stateRoot, id).dir)).toBe(false);
    }
  });

  it("a container that exits at once: its reply, then its ContainerStarted report, then its ContainerExited report", async () => {
    const id = newContainerId();
    const { nc, prefix } = bed.nats;
    // On one connection, NATS delivers one publisher's messages in the order it sent them, and
    // subscription callbacks run in arrival order: `seen` is the order the agent sent them in.
    const seen: string[] = [];
    const reports = nc.subscribe(`${prefix}.host.${bed.host}.report.*`, {
      callback: (_err, m) => {
        const r = decodeHostReport(m);
        if ((r.payload as { containerId?: string }).containerId === id) seen.push(r.type);
      },
    });
    const inbox = createInbox();
    let reply: { ok: boolean; result?: { pid: number } } | undefined;
    const replies = nc.subscribe(inbox, {
      max: 1,
      callback: (_err, m) => {
        reply = JSON.parse(new TextDecoder().decode(m.data)) as typeof reply;
        seen.push("reply");
      },
    });
    await nc.flush();
    const command = { containerId: id, rootfs: { dir: bed.rootfs }, args: ["sh", "-c", "exit 3"], ipcPlan: { mode: "private", shmSizeBytes: MiB }, runtime: RUNC };
    nc.publish(hostCommandSubject(prefix, bed.host, "StartContainer"), JSON.stringify(command), { reply: inbox });
    try {
      for (let i = 0; i < 600 && !seen.includes("ContainerExited"); i++) await new Promise((res) => setTimeout(res, 20));
    } finally {
      reports.unsubscribe();
      replies.unsubscribe();
    }
    expect(seen).toEqual(["reply", "ContainerStarted", "ContainerExited"]);
    expect(reply).toMatchObject({ ok: true, result: { containerId: id, pid: expect.any(Number) } });
    expect(await waitForExit(id)).toMatchObject({ pid: reply!.result!.pid, exitCode: 3 });
    // The reports stream stores them in the same order.
    const ofThis = (await bed.reports()).filter((r) => (r.payload as { containerId?: string }).containerId === id).map((r) => r.type);
    expect(ofThis).toEqual(["ContainerStarted", "ContainerExited"]);
    await bed.send("DeleteContainer", { containerId: id });
  });

  it("an exited container starts again with its writable layer and log kept", async () => {
    const id = newContainerId();
    await start(id, ["sh", "-c", "echo run >> /root/runs; cat /root/runs | wc -l"]);
    const first = await waitForExit(id);
    const again = await start(id, ["sh", "-c", "echo run >> /root/runs; cat /root/runs | wc -l"]);
    expect(again.pid).not.toBe(first.pid);
    for (let i = 0; i < 600 && (await bed.reports("ContainerExited")).filter((r) => (r.payload as { containerId: string }).containerId === id).length < 2; i++) {
      await new Promise((res) => setTimeout(res, 50));
    }
    expect((await bed.send<{ stdout: string }>("ReadLogs", { containerId: id })).stdout.split(/\s+/).filter(Boolean)).toEqual(["1", "2"]);
    await bed.send("DeleteContainer", { containerId: id });
  });

  it("a failed start attempt sent again gets the same answer and is not tried again; a new attempt is", async () => {
    const id = newContainerId();
    const send = (attemptId: string, args: string[]) =>
      bed.send<{ pid: number }>("StartContainer", { containerId: id, rootfs: { dir: bed.rootfs }, args, ipcPlan: { mode: "private", shmSizeBytes: MiB }, runtime: RUNC, attemptId });
    const first = await send("attempt-1", ["/no/such/binary"]).then(() => undefined, (err: Error) => err);
    expect(first?.message).toMatch(/exit code 127/);
    // The same attempt again, now with a command that would run: answered as before, nothing started.
    const again = await send("attempt-1", ["sleep", "30"]).then(() => undefined, (err: Error) => err);
    expect(again?.message).toBe(first?.message);
    const running = (await bed.send<{ containers: { containerId: string; status: string }[] }>("ListContainers", {})).containers.filter((c) => c.status === "running");
    expect(running.map((c) => c.containerId)).not.toContain(id);
    const started = await send("attempt-2", ["sleep", "30"]);
    expect(started.pid).toBeGreaterThan(0);
    await bed.send("KillContainer", { containerId: id, signal: "SIGKILL" });
    await waitForExit(id);
    await bed.send("DeleteContainer", { containerId: id });
  });

  it("a container over its memory limit is reported as ContainerOom", async () => {
    const id = newContainerId();
    // tmpfs pages are charged to the container's memory cgroup: filling /dev/shm past the limit triggers the OOM killer.
    await bed.send("StartContainer", {
      containerId: id,
      rootfs: { dir: bed.rootfs },
      args: ["sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=64; echo dd-done; sleep 1000"],
      ipcPlan: { mode: "private", shmSizeBytes: 128 * MiB },
      hostConfig: { memoryBytes: 16 * MiB },
      runtime: RUNC,
    });
    let ooms: unknown[] = [];
    for (let i = 0; i < 400 && ooms.length === 0; i++) {
      ooms = (await bed.reports("ContainerOom")).filter((r) => (r.payload as { containerId: string }).containerId === id);
      if (ooms.length === 0) await new Promise((res) => setTimeout(res, 50));
    }
    expect(ooms.length).toBeGreaterThanOrEqual(1);
    await bed.send("DeleteContainer", { containerId: id, force: true });
  });

  it("after a containerd restart the agent operates the container again and still reports its exit", async () => {
    const id = newContainerId();
    const { pid } = await start(id, ["sleep", "1000"]);
    await bed.containerd.restart();
    // Until the client's channel reconnects, commands fail UNAVAILABLE (retryable); then they work again.
    let out: unknown;
    for (let i = 0; out === undefined; i++) {
      try {
        out = await bed.send("ExecInContainer", { containerId: id, args: ["echo", "after-restart"] });
      } catch (err) {
        expect(err).toMatchObject({ code: "UNAVAILABLE" });
        if (i > 300) throw err;
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    expect(out).toMatchObject({ stdout: "after-restart\n" });
    process.kill(pid, "SIGKILL");
    expect(await waitForExit(id)).toMatchObject({ pid, exitCode: 137 });
    await bed.send("DeleteContainer", { containerId: id });
  });

  it("Reconcile lists what runs, what is missing and what is unexpected, and keeps an expected container's shm", async () => {
    const running = newContainerId();
    const missing = newContainerId();
    const soon = newContainerId();
    await start(running, ["sleep", "1000"]);
    const { shmMountPath } = await bed.send<{ shmMountPath: string }>("MountShm", { containerId: soon, sizeBytes: MiB });
    const r = await bed.send<Record<string, unknown>>("Reconcile", { expected: [{ containerId: missing }, { containerId: soon }] });
    expect(r).toMatchObject({ missing: expect.arrayContaining([missing, soon]), unmount: 0 });
    expect(r.unexpected).toContain(running);
    expect(r.running).toContain(running);
    expect(await bed.mountsUnderStateRoot()).toContain(shmMountPath);
    // Not expected any more and no container uses it: the next reconcile removes it.
    await bed.send("Reconcile", { expected: [{ containerId: running }] });
    expect(await bed.mountsUnderStateRoot()).not.toContain(shmMountPath);
    await bed.send("DeleteContainer", { containerId: running, force: true });
  });
});

async function waitForExit(id: string): Promise<{ pid: number; exitCode: number }> {
  for (let i = 0; i < 600; i++) {
    const r = (await bed.reports("ContainerExited")).find((x) => (x.payload as { containerId: string }).containerId === id);
    if (r !== undefined) return r.payload as { pid: number; exitCode: number };
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`no ContainerExited for ${id}`);
}
