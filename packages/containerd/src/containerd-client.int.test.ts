import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError } from "@shoal/domain";
import { ensureBusyboxRootfs, startTestContainerd } from "@shoal/testing";
import type { TestContainerd } from "@shoal/testing";
import { connectContainerd } from "./index";
import type { Container, ContainerdClient, ContainerdEvent, Mount, Task } from "./index";

// A private containerd (namespace "shoal", runc state in the instance's own runc root),
// a busybox rootfs given to every container as an overlay lowerdir.

const WORK = "/var/lib/shoal-test/containerd-client-work";
let ctrd: TestContainerd;
let client: ContainerdClient;
let busybox: string;
let seq = 0;

beforeAll(async () => {
  ctrd = await startTestContainerd({ name: "containerd-client" });
  busybox = await ensureBusyboxRootfs();
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
  client = await connectContainerd({ socket: ctrd.socket, namespace: "shoal" });
});

afterAll(async () => {
  client?.close();
  // Force-deletes whatever a failed test left (runc containers, shims, rootfs mounts) and the daemon's dirs.
  await ctrd?.stop();
  await rm(WORK, { recursive: true, force: true });
});

function newId(label: string): string {
  seq += 1;
  return `${label}-${process.pid}-${seq}`;
}

/** The least a runc container needs: a relative root ("rootfs", built from the overlay mount), proc, dev, namespaces. */
function spec(id: string, args: string[]): object {
  return {
    ociVersion: "1.0.2",
    process: { terminal: false, user: { uid: 0, gid: 0 }, args, env: ["PATH=/bin"], cwd: "/" },
    root: { path: "rootfs", readonly: false },
    hostname: "t",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    ],
    linux: {
      cgroupsPath: `/shoal-test-${id}`,
      namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "network" }],
    },
  };
}

async function overlay(id: string): Promise<Mount[]> {
  const dir = join(WORK, id);
  await mkdir(join(dir, "upper"), { recursive: true });
  await mkdir(join(dir, "work"), { recursive: true });
  return [
    { type: "overlay", source: "overlay", options: [`lowerdir=${busybox}`, `upperdir=${dir}/upper`, `workdir=${dir}/work`] },
  ];
}

function stdio(id: string, name = "init"): { stdout: string; stderr: string; out: string; err: string } {
  const out = join(WORK, `${id}.${name}.out`);
  const err = join(WORK, `${id}.${name}.err`);
  return { stdout: `file://${out}`, stderr: `file://${err}`, out, err };
}

async function createContainer(c: ContainerdClient, id: string, args: string[]): Promise<Container> {
  return c.createContainer({ id, spec: spec(id, args), runtime: { name: "io.containerd.runc.v2", options: { root: ctrd.runcRoot } } });
}

async function runLong(id: string): Promise<{ container: Container; task: Task }> {
  const container = await createContainer(client, id, ["sleep", "1000"]);
  const io = stdio(id);
  const task = await container.newTask({ rootfs: await overlay(id), stdout: io.stdout, stderr: io.stderr });
  await task.start();
  return { container, task };
}

async function remove(container: Container, task: Task): Promise<void> {
  await task.delete();
  await container.delete();
}

describe("containerd client against a real containerd", () => {
  it("runs a process on an overlay rootfs: pid known at create, exit code and output from files, 5 RPCs for the whole lifecycle", async () => {
    const id = newId("run");
    const io = stdio(id);
    const rootfs = await overlay(id);
    let pidAtCreate = 0;
    let pidAlive = false;
    const { result, rpcs, total } = await client.countRpcs(async () => {
      const container = await createContainer(client, id, ["/bin/sh", "-c", "echo hi; echo oops >&2; exit 3"]);
      const task = await container.newTask({ rootfs, stdout: io.stdout, stderr: io.stderr });
      pidAtCreate = task.pid;
      pidAlive = await readFile(`/proc/${task.pid}/status`).then(
        () => true,
        () => false,
      );
      await task.start();
      const exit = await task.wait();
      const deleted = await task.delete();
      await container.delete();
      return { exit, deleted };
    });

    expect(pidAtCreate).toBeGreaterThan(0);
    expect(pidAlive).toBe(true);
    expect(result.exit.exitStatus).toBe(3);
    expect(result.exit.exitedAt.getTime()).toBeGreaterThan(0);
    expect(result.deleted.exitStatus).toBe(3);
    // containerd 1.6's shim sends both streams to the stdout file when stdout is file:// (the
    // stderr URI is ignored); the file is complete once Tasks.Delete has returned.
    expect((await readFile(io.out, "utf8")).split("\n").filter(Boolean).sort()).toEqual(["hi", "oops"]);
    // The shared events stream replaces Tasks.Wait.
    expect(total).toBeLessThanOrEqual(6);
    expect(rpcs).toEqual({
      "Containers/Create": 1,
      "Tasks/Create": 1,
      "Tasks/Start": 1,
      "Tasks/Delete": 1,
      "Containers/Delete": 1,
    });
    await expect(client.loadContainer(id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("waits correctly when the exit arrived before wait() was called", async () => {
    const id = newId("early");
    const io = stdio(id);
    const container = await createContainer(client, id, ["/bin/sh", "-c", "exit 4"]);
    const task = await container.newTask({ rootfs: await overlay(id), stdout: io.stdout, stderr: io.stderr });
    const exited = new Promise<void>((resolve) => {
      const off = client.events.on("task-exit", (e) => {
        if (e.containerId === id) {
          off();
          resolve();
        }
      });
    });
    await task.start();
    await exited;
    expect((await task.wait()).exitStatus).toBe(4);
    await remove(container, task);
  });

  it("execs a process in a running task and reports its output and exit code", async () => {
    const id = newId("exec");
    const { container, task } = await runLong(id);
    const events = client.events.stream();
    const io = stdio(id, "exec1");
    const proc = await task.exec({
      execId: "exec1",
      spec: { args: ["/bin/sh", "-c", "echo from-exec; exit 7"], env: ["PATH=/bin"], cwd: "/", user: { uid: 0, gid: 0 } },
      stdout: io.stdout,
      stderr: io.stderr,
    });
    const pid = await proc.start();
    expect(pid).toBeGreaterThan(0);
    expect((await proc.wait()).exitStatus).toBe(7);
    expect((await proc.delete()).exitStatus).toBe(7);
    expect(await readFile(io.out, "utf8")).toBe("from-exec\n");

    const execEvents: string[] = [];
    for await (const e of events) {
      if (e.containerId !== id || !("execId" in e) || e.execId !== "exec1") continue;
      execEvents.push(e.type);
      if (e.type === "task-exit") {
        expect(e).toMatchObject({ execId: "exec1", pid, exitStatus: 7 });
        break; // ends the iterator
      }
    }
    expect(execEvents).toEqual(["task-exec-added", "task-exec-started", "task-exit"]);

    await expect(
      task.exec({ execId: "bad id", spec: { args: ["true"], cwd: "/" }, stdout: "", stderr: "" }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);

    await task.kill("SIGKILL");
    expect((await task.wait()).exitStatus).toBe(137);
    await remove(container, task);
  });

  it("pauses and resumes a task, with paused/resumed events, and kills it", async () => {
    const id = newId("pause");
    const { container, task } = await runLong(id);
    const seen: ContainerdEvent["type"][] = [];
    const off1 = client.events.on("task-paused", (e) => e.containerId === id && seen.push(e.type));
    const off2 = client.events.on("task-resumed", (e) => e.containerId === id && seen.push(e.type));

    expect((await task.pids()).length).toBeGreaterThanOrEqual(1);
    await task.pause();
    expect((await task.state()).status).toBe("paused");
    await task.resume();
    expect((await task.state()).status).toBe("running");

    await task.kill("SIGKILL", { all: true });
    const exit = await task.wait();
    expect(exit.exitStatus).toBe(137);
    expect((await task.state()).status).toBe("stopped");
    // Events are delivered in order on one stream; the exit came after both.
    off1();
    off2();
    expect(seen).toEqual(["task-paused", "task-resumed"]);
    await remove(container, task);
  });

  it("maps containerd errors to the domain taxonomy and refuses to orphan a task", async () => {
    const id = newId("errors");
    const container = await createContainer(client, id, ["true"]);
    await expect(createContainer(client, id, ["true"])).rejects.toBeInstanceOf(AlreadyExistsError);
    const again = await client.loadContainer(id);
    expect(again.runtime).toEqual({ name: "io.containerd.runc.v2", options: expect.objectContaining({ root: ctrd.runcRoot }) });
    expect(again.spec).toMatchObject({ root: { path: "rootfs" } });
    await container.delete();

    const err = await again.delete().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toMatch(/^Containers\.Delete: .*not found/);
    expect((err as Error).cause).toMatchObject({ code: 5 });
    await expect(client.loadContainer(id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.loadTask(id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(createContainer(client, "not a valid id", ["true"])).rejects.toBeInstanceOf(InvalidArgumentError);

    const id2 = newId("orphan");
    const { container: c2, task } = await runLong(id2);
    await expect(c2.delete()).rejects.toBeInstanceOf(FailedPreconditionError);
    await expect(task.delete()).rejects.toBeInstanceOf(FailedPreconditionError); // still running
    await task.kill("SIGKILL");
    await task.wait();
    await remove(c2, task);
  });

  it("lets a restarted agent adopt running tasks through a new client", async () => {
    const id = newId("adopt");
    const { container, task } = await runLong(id);
    const second = await connectContainerd({ socket: ctrd.socket, namespace: "shoal" });
    try {
      const adopted = (await second.listTasks()).find((t) => t.task.containerId === id);
      expect(adopted?.state.status).toBe("running");
      expect(adopted?.task.pid).toBe(task.pid);
      expect((await second.listContainers()).map((c) => c.id)).toContain(id);

      const loaded = await second.loadTask(id);
      await loaded.kill("SIGKILL");
      expect((await loaded.wait()).exitStatus).toBe(137);
      expect((await task.wait()).exitStatus).toBe(137);
      expect((await loaded.delete()).exitStatus).toBe(137);
      await container.delete().catch(() => undefined); // this object did not delete its own task
      await (await second.loadContainer(id).catch(() => undefined))?.delete();
    } finally {
      second.close();
    }
  });

  it("keeps the events stream across a containerd restart: old and new tasks' exits are still observed", async () => {
    const oldId = newId("before-restart");
    const old = await runLong(oldId);

    const reconnected = new Promise<void>((resolve) => {
      const off = client.events.onReconnect(() => {
        off();
        resolve();
      });
    });
    await ctrd.restart();
    await reconnected;
    expect(client.events.connected).toBe(true);

    // A task started before the restart: its shim survived, its exit reaches the stream.
    await old.task.kill("SIGKILL");
    expect((await old.task.wait()).exitStatus).toBe(137);
    await remove(old.container, old.task);

    // A task created after the restart.
    const id = newId("after-restart");
    const io = stdio(id);
    const exitEvent = new Promise<ContainerdEvent>((resolve) => {
      const off = client.events.on("task-exit", (e) => {
        if (e.containerId === id) {
          off();
          resolve(e);
        }
      });
    });
    const container = await createContainer(client, id, ["/bin/sh", "-c", "exit 5"]);
    const task = await container.newTask({ rootfs: await overlay(id), stdout: io.stdout, stderr: io.stderr });
    await task.start();
    expect(await exitEvent).toMatchObject({ type: "task-exit", containerId: id, execId: "", exitStatus: 5, pid: task.pid });
    expect((await task.wait()).exitStatus).toBe(5);
    await remove(container, task);
  });

  it("resolves wait() for an exit that happened while containerd was down", async () => {
    const id = newId("gap");
    const { container, task } = await runLong(id);
    const reconnected = new Promise<void>((resolve) => {
      const off = client.events.onReconnect(() => {
        off();
        resolve();
      });
    });
    await ctrd.restart({
      whileDown: async () => {
        process.kill(task.pid, "SIGKILL");
      },
    });
    await reconnected;
    expect((await task.wait()).exitStatus).toBe(137);
    await remove(container, task);
  });

  it("fails to connect with UnavailableError naming the socket when nothing answers", async () => {
    const socket = "/run/shoal-test/containerd-client/nobody-here.sock";
    const err = await connectContainerd({ socket, namespace: "shoal", rpcTimeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toContain(socket);
  });
});
