/**
 * The runtime agent dying under running containers, through the real stack:
 * - kill -9 and a restart within the heartbeat timeout: the containers keep running, are
 *   adopted (exec reaches them in the same IPC namespace), and their exit and the group's
 *   shm unmount are still handled;
 * - kill -9 and no restart: past `heartbeat-timeout` the host is listed as lost and its
 *   containers as lost (not dead: they still run); when the agent comes back, the host is
 *   ready again and the containers still placed there are adopted, same process.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startStack } from "./stack";
import type { E2eStack } from "./stack";

let stack: E2eStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.teardown();
});

async function run(name: string, ipc: string): Promise<string> {
  const r = await stack.cli(["run", "-d", "--name", name, "--ipc", ipc, "--rootfs", stack.rootfs, "/bin/sleep", "3600"]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

async function ipcNamespace(name: string): Promise<string> {
  const r = await stack.cli(["exec", name, "readlink", "/proc/self/ns/ipc"]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

async function hostStatus(): Promise<string | undefined> {
  const res = await stack.call<any>("Hosts", "ListHosts", {});
  return (res.hosts as any[]).find((h) => h.name === stack.host)?.status;
}

describe("the runtime agent dies", () => {
  it("restarted in time, it adopts the running group: exec works, exits and the shm unmount are still handled", async () => {
    const owner = await run("a-owner", "shareable");
    await run("a-member", "container:a-owner");
    const ns = await ipcNamespace("a-owner");
    const shm = `${stack.stateRoot}/containers/${owner}/mounts/shm`;

    await stack.kill9("runtime-agent");
    await stack.restart("runtime-agent");

    expect(await hostStatus()).toBe("ready");
    expect(await ipcNamespace("a-owner")).toBe(ns);
    expect(await ipcNamespace("a-member")).toBe(ns);
    expect((await stack.mountsUnderStateRoot()).filter((m) => m === shm)).toHaveLength(1);
    for (const n of ["a-owner", "a-member"]) {
      const info = JSON.parse((await stack.cli(["inspect", n])).stdout)[0];
      expect(info.State.Running, n).toBe(true);
    }

    const stop = await stack.cli(["stop", "-t", "1", "a-member", "a-owner"]);
    expect(stop.code, stop.stderr).toBe(0);
    for (const n of ["a-owner", "a-member"]) {
      const info = JSON.parse((await stack.cli(["inspect", n])).stdout)[0];
      expect(info.State.Running, n).toBe(false);
    }
    await eventually("the group's shm unmounted", async () => ((await stack.mountsUnderStateRoot()).includes(shm) ? undefined : true), 30_000);
    expect((await stack.cli(["rm", "a-member", "a-owner"])).code).toBe(0);
  });

  it("not restarted, its host is lost after the heartbeat timeout and its containers are lost, not dead; back, it adopts them", async () => {
    const set = await stack.cli(["config", "set", "heartbeat-timeout=3s"]);
    expect(set.code, set.stderr).toBe(0);
    const id = await run("l-lonely", "private");
    const pid = (await stack.call<any>("Containers", "InspectContainer", { container: id })).container.state.pid;

    await stack.kill9("runtime-agent");
    await eventually("host lost", async () => ((await hostStatus()) === "lost" ? true : undefined), 60_000);
    const info = await eventually(
      "the container lost",
      async () => {
        const r = await stack.call<any>("Containers", "InspectContainer", { container: id });
        return r.container.state.status === "lost" ? r.container : undefined;
      },
      60_000,
    );
    // Lost is not dead: its process still runs, unseen.
    expect(info.state.dead).toBe(false);
    expect(info.state.error).toContain("lost");
    expect((await stack.containerEvents(id)).map((e) => e.type)).toContain("ContainerLost");
    expect((await stack.containerEvents(id)).map((e) => e.type)).not.toContain("ContainerDied");

    // The agent comes back: the host is ready again, is fenced, and adopts the container still placed there.
    await stack.restart("runtime-agent");
    expect(await hostStatus()).toBe("ready");
    const back = await eventually(
      "the container adopted",
      async () => {
        const r = await stack.call<any>("Containers", "InspectContainer", { container: id });
        return r.container.state.status === "running" ? r.container : undefined;
      },
      60_000,
    );
    expect(back.state.pid).toBe(pid);
    expect((await stack.containerEvents(id)).map((e) => e.type)).toContain("ContainerRecovered");
  });
});
