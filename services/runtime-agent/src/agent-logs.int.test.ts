import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentTestBed, newContainerId, RUNC } from "./agent-test-harness";
import type { AgentTestBed } from "./agent-test-harness";

// A container's stdout and stderr both reach its one log, every run: containerd 1.6's
// file:// copy lost the stderr line in about 1 of 17 runs of this very command (so 100
// runs catch that with near certainty).

let bed: AgentTestBed;

beforeAll(async () => {
  bed = await createAgentTestBed("logs");
  await bed.startInProcessAgent();
});

afterAll(async () => {
  await bed?.cleanup();
});

async function exited(id: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if ((await bed.reports("ContainerExited")).some((r) => (r.payload as { containerId: string }).containerId === id)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ContainerExited for ${id}`);
}

describe("container logs", () => {
  it("keeps both the stdout and the stderr line of a short-lived container, 100 runs out of 100", async () => {
    const lost: string[] = [];
    for (let run = 0; run < 100; run++) {
      const id = newContainerId();
      await bed.send("StartContainer", {
        containerId: id,
        rootfs: { dir: bed.rootfs },
        args: ["sh", "-c", `echo out-${run}; echo err-${run} >&2`],
        ipcPlan: { mode: "private", shmSizeBytes: 1024 * 1024 },
        runtime: RUNC,
      });
      await exited(id);
      const logs = await bed.send<{ stdout: string; stderr: string }>("ReadLogs", { containerId: id });
      const lines = (logs.stdout + logs.stderr).split("\n").filter(Boolean).sort();
      if (JSON.stringify(lines) !== JSON.stringify([`err-${run}`, `out-${run}`])) lost.push(`run ${run}: ${JSON.stringify(lines)}`);
      await bed.send("DeleteContainer", { containerId: id });
    }
    expect(lost).toEqual([]);
  });

  it("ReadLogs racing DeleteContainer answers the whole output or NOT_FOUND, never a cut-short one", async () => {
    const partial: string[] = [];
    for (let run = 0; run < 15; run++) {
      const id = newContainerId();
      await bed.send("StartContainer", {
        containerId: id,
        rootfs: { dir: bed.rootfs },
        args: ["sh", "-c", `echo bye-${run}`],
        ipcPlan: { mode: "private", shmSizeBytes: 1024 * 1024 },
        runtime: RUNC,
      });
      await exited(id);
      const read = () =>
        bed.send<{ stdout: string; stderr: string }>("ReadLogs", { containerId: id }).then(
          (logs) => logs.stdout + logs.stderr,
          (err: Error & { code?: string }) => (/not found/i.test(err.message) ? "NOT_FOUND" : `error ${err.message}`),
        );
      const reads = Array.from({ length: 12 }, (_, i) => new Promise<string>((resolve) => setTimeout(() => resolve(read()), i)));
      await bed.send("DeleteContainer", { containerId: id });
      for (const answer of await Promise.all(reads)) if (answer !== `bye-${run}\n` && answer !== "NOT_FOUND") partial.push(`run ${run}: ${JSON.stringify(answer)}`);
    }
    expect(partial).toEqual([]);
  });

  it("appends a restarted container's output to its log, and exec returns stdout and stderr apart", async () => {
    const id = newContainerId();
    const start = () =>
      bed.send("StartContainer", {
        containerId: id,
        rootfs: { dir: bed.rootfs },
        args: ["sh", "-c", "echo out; echo err >&2"],
        ipcPlan: { mode: "private", shmSizeBytes: 1024 * 1024 },
        runtime: RUNC,
      });
    await start();
    await exited(id);
    const before = (await bed.reports("ContainerExited")).length;
    await start();
    for (let i = 0; i < 400 && (await bed.reports("ContainerExited")).length === before; i++) await new Promise((r) => setTimeout(r, 50));
    const logs = await bed.send<{ stdout: string; stderr: string }>("ReadLogs", { containerId: id });
    expect((logs.stdout + logs.stderr).split("\n").filter(Boolean).sort()).toEqual(["err", "err", "out", "out"]);
    await bed.send("DeleteContainer", { containerId: id });

    const box = newContainerId();
    await bed.send("StartContainer", { containerId: box, rootfs: { dir: bed.rootfs }, args: ["sleep", "1000"], ipcPlan: { mode: "private", shmSizeBytes: 1024 * 1024 }, runtime: RUNC });
    for (let run = 0; run < 10; run++) {
      expect(await bed.send("ExecInContainer", { containerId: box, args: ["sh", "-c", `echo o${run}; echo e${run} >&2; exit 4`] })).toEqual({
        exitCode: 4,
        stdout: `o${run}\n`,
        stderr: `e${run}\n`,
      });
    }
    await bed.send("StopContainer", { containerId: box, timeoutSeconds: 1 });
    await bed.send("DeleteContainer", { containerId: box });
  });
});
