import { access, readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentTestBed, newContainerId, RUNC } from "./agent-test-harness";
import type { AgentTestBed } from "./agent-test-harness";

// Two hosts on one machine, each with its own containerd, using the same container id:
// each agent's runc root and cgroup prefix keep them apart (containerd-notes: one host's
// cleanup once killed the other's container).

let one: AgentTestBed;
let two: AgentTestBed;

beforeAll(async () => {
  one = await createAgentTestBed("one");
  two = await createAgentTestBed("two");
  await one.startInProcessAgent();
  await two.startInProcessAgent();
});

afterAll(async () => {
  await one?.cleanup();
  await two?.cleanup();
});

describe("two hosts on one machine", () => {
  it("run containers with the same id side by side; stopping and deleting one leaves the other running", async () => {
    const id = newContainerId();
    const payload = (bed: AgentTestBed) => ({
      containerId: id,
      rootfs: { dir: bed.rootfs },
      args: ["sleep", "1000"],
      ipcPlan: { mode: "private", shmSizeBytes: 1 << 20 },
      runtime: RUNC,
    });
    const a = await one.send<{ pid: number }>("StartContainer", payload(one));
    const b = await two.send<{ pid: number }>("StartContainer", payload(two));
    expect(a.pid).not.toBe(b.pid);
    // Separate runc state and cgroups.
    await access(`${one.runDir}/runc/shoal/${id}/state.json`);
    await access(`${two.runDir}/runc/shoal/${id}/state.json`);
    expect(await cgroupOf(a.pid)).toContain(`/shoal-${one.host}/${id}`);
    expect(await cgroupOf(b.pid)).toContain(`/shoal-${two.host}/${id}`);

    await one.send("StopContainer", { containerId: id, timeoutSeconds: 0 });
    await one.send("DeleteContainer", { containerId: id });
    expect(await two.send("ExecInContainer", { containerId: id, args: ["echo", "alive"] })).toMatchObject({ stdout: "alive\n" });
    await access(`/proc/${b.pid}`);
    await two.send("DeleteContainer", { containerId: id, force: true });
  });
});

async function cgroupOf(pid: number): Promise<string> {
  return readFile(`/proc/${pid}/cgroup`, "utf8");
}
