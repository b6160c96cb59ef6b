/**
 * Removal through the real stack: `--rm` removes a container after it exits and after a
 * failed start; removing an owner whose members still run is refused, and a forced removal
 * stops the members first and leaves no shm mount.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Status, eventually, expectContainerCounts, startStack } from "./stack";
import type { E2eStack, GrpcError } from "./stack";

let stack: E2eStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.teardown();
});

/** A long-running command that exits on SIGTERM (a bare `sleep` as pid 1 ignores it), so stops are quick. */
const SERVER = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"];

/** Whether the api still knows the container (Inspect answers rather than NOT_FOUND). */
async function known(ref: string): Promise<boolean> {
  try {
    await stack.call("Containers", "InspectContainer", { container: ref });
    return true;
  } catch (err) {
    expect((err as GrpcError).code).toBe(Status.NOT_FOUND);
    return false;
  }
}

async function idOf(name: string): Promise<string> {
  const r = await stack.call<any>("Containers", "InspectContainer", { container: name });
  return r.container.id as string;
}

describe("--rm", () => {
  it("removes an attached container after it exits, with its exit code kept for the CLI", async () => {
    const before = await stack.containerCounts();
    const r = await stack.cli(["run", "--rm", "--name", "rm-attached", "--rootfs", stack.rootfs, "/bin/sh", "-c", "echo bye; exit 4"]);
    expect(r).toMatchObject({ code: 4, stdout: "bye\n" });
    await eventually("rm-attached removed", async () => ((await known("rm-attached")) ? undefined : true));
    await expectContainerCounts(stack, before);
    // The name is free again.
    const again = await stack.cli(["run", "--rm", "--name", "rm-attached", "--rootfs", stack.rootfs, "/bin/true"]);
    expect(again.code, again.stderr).toBe(0);
    await eventually("the second rm-attached removed", async () => ((await known("rm-attached")) ? undefined : true));
  });

  it("removes a detached container after it exits", async () => {
    const r = await stack.cli(["run", "-d", "--rm", "--name", "rm-detached", "--rootfs", stack.rootfs, "/bin/sh", "-c", "sleep 1"]);
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    await eventually("rm-detached removed", async () => ((await known(id)) ? undefined : true));
    const types = (await stack.containerEvents(id)).map((e) => e.type);
    expect(types).toContain("ContainerExited");
    expect(types.at(-1)).toBe("ContainerRemoved");
    expect((await stack.containerCounts()).containerd).toBe(0);
  });

  it("removes the container after a failed start, and run exits 127", async () => {
    const r = await stack.cli(["run", "--rm", "--name", "rm-failed", "--rootfs", stack.rootfs, "/no/such/command"]);
    expect(r.code, r.stderr).toBe(127);
    await eventually("rm-failed removed", async () => ((await known("rm-failed")) ? undefined : true));
    const ps = await stack.cli(["ps", "-a", "--format", "json"]);
    expect(ps.stdout).not.toContain("rm-failed");
    expect((await stack.containerCounts()).containerd).toBe(0);
    expect(await stack.mountsUnderStateRoot()).toEqual([]);
  });

  it("removes a shareable owner after a failed start and unmounts the shm it was given", async () => {
    const r = await stack.cli(["run", "--rm", "--ipc", "shareable", "--name", "rm-owner-failed", "--rootfs", stack.rootfs, "/no/such/command"]);
    expect(r.code, r.stderr).toBe(127);
    await eventually("rm-owner-failed removed", async () => ((await known("rm-owner-failed")) ? undefined : true));
    await eventually("its shm unmounted", async () => ((await stack.mountsUnderStateRoot()).length === 0 ? true : undefined), 30_000);
  });
});

describe("removing an IPC owner", () => {
  it("is refused while a member runs, and a forced removal stops the members first", async () => {
    for (const [name, ipc] of [
      ["grp-owner", "shareable"],
      ["grp-member1", "container:grp-owner"],
      ["grp-member2", "container:grp-owner"],
    ]) {
      const r = await stack.cli(["run", "-d", "--name", name!, "--ipc", ipc!, "--rootfs", stack.rootfs, ...SERVER]);
      expect(r.code, r.stderr).toBe(0);
    }
    const owner = await idOf("grp-owner");
    const shm = `${stack.stateRoot}/containers/${owner}/mounts/shm`;

    // The owner itself stopped: its members still use the group's namespace and /dev/shm.
    expect((await stack.cli(["stop", "-t", "1", "grp-owner"])).code).toBe(0);
    const events = await stack.eventCount();
    const refused = await stack.cli(["rm", "grp-owner"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/member/i);
    const grpcErr = await stack.call("Containers", "RemoveContainer", { container: "grp-owner" }).then(
      () => undefined,
      (e: GrpcError) => e,
    );
    expect(grpcErr?.code).toBe(Status.FAILED_PRECONDITION);
    expect(await known("grp-owner")).toBe(true);
    expect(await stack.mountsUnderStateRoot()).toContain(shm);
    expect(await stack.eventCount()).toBe(events);
    for (const m of ["grp-member1", "grp-member2"]) {
      const info = JSON.parse((await stack.cli(["inspect", m])).stdout)[0];
      expect(info.State.Running).toBe(true);
    }

    const member1 = await idOf("grp-member1");
    const forced = await stack.cli(["rm", "-f", "grp-owner"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await known("grp-owner")).toBe(false);
    // The members were stopped (not removed) before the owner went.
    for (const m of ["grp-member1", "grp-member2"]) {
      const info = JSON.parse((await stack.cli(["inspect", m])).stdout)[0];
      expect(info.State.Running).toBe(false);
    }
    const memberEvents = (await stack.containerEvents(member1)).map((e) => e.type);
    expect(memberEvents).toContain("ContainerExited");
    await eventually("the group's shm unmounted", async () => ((await stack.mountsUnderStateRoot()).includes(shm) ? undefined : true), 30_000);

    expect((await stack.cli(["rm", "grp-member1", "grp-member2"])).code).toBe(0);
    expect(await known("grp-member1")).toBe(false);
    expect(await known("grp-member2")).toBe(false);
    await expectContainerCounts(stack, { projection: 0, containerd: 0 });
    expect(await stack.mountsUnderStateRoot()).toEqual([]);
  });

  it("a running owner with running members: plain rm is refused, rm -f removes the owner and stops the members", async () => {
    for (const [name, ipc] of [
      ["run-owner", "shareable"],
      ["run-member", "container:run-owner"],
    ]) {
      const r = await stack.cli(["run", "-d", "--name", name!, "--ipc", ipc!, "--rootfs", stack.rootfs, ...SERVER]);
      expect(r.code, r.stderr).toBe(0);
    }
    const refused = await stack.cli(["rm", "run-owner"]);
    expect(refused.code).toBe(1);
    expect(await known("run-owner")).toBe(true);
    const forced = await stack.cli(["rm", "-f", "run-owner"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await known("run-owner")).toBe(false);
    expect(JSON.parse((await stack.cli(["inspect", "run-member"])).stdout)[0].State.Running).toBe(false);
    expect((await stack.cli(["rm", "run-member"])).code).toBe(0);
    await eventually("no mount left", async () => ((await stack.mountsUnderStateRoot()).length === 0 ? true : undefined), 30_000);
  });
});
