/**
 * Checkpoints moving between hosts, through the real `shoal`, on two namespace hosts:
 * - export to a file, remove, import, and restore on the other host: the counting loop goes
 *   on there, from where it was;
 * - `start --checkpoint C --host H` restores straight on another host (its own host copies the
 *   checkpoint to the replica store first), and still when that host is then lost;
 * - `host drain --checkpoint` moves an IPC group by checkpoint and restore: on the other host
 *   it still shares one namespace, a POSIX mapping and a System V segment, its counts going on.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rootfsWithIpcProbe } from "@shoal/testing";
import { eventually, startStack } from "./stack";
import type { FleetStack } from "./stack";

let stack: FleetStack;
let rootfs: string;
let scratch: string;

beforeAll(async () => {
  stack = await startStack({ hosts: 2, heartbeatMs: 500 });
  scratch = await mkdtemp(join(tmpdir(), "shoal-cp-fleet-"));
  rootfs = await rootfsWithIpcProbe(stack.rootfs, join(scratch, "rootfs"));
  expect((await stack.cli(["config", "set", "experimental=true"])).code).toBe(0);
}, 240_000);

afterAll(async () => {
  await stack?.teardown();
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  if (stack !== undefined) expect(await stack.fleet.leftovers()).toEqual([]);
});

const COUNTER = "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done";

async function cli(...args: string[]): Promise<string> {
  const r = await stack.cli(args, { timeoutMs: 180_000 });
  expect(r.code, `shoal ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

const inspect = async (name: string) => JSON.parse(await cli("inspect", name))[0];
const hostOf = async (name: string) => (await inspect(name)).Host as string;
const otherThan = (host: string) => stack.fleet.hosts.map((h) => h.name).find((n) => n !== host)!;

/** The loop's count; read again when caught between the loop's truncation of the file and its write (seen in CI). */
async function count(name: string): Promise<number> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await stack.cli(["exec", name, "cat", "/tmp/count"]);
    if (r.code === 0 && r.stdout.trim() !== "") return Number(r.stdout.trim());
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return 0;
}

async function counting(name: string, above: number): Promise<number> {
  return eventually(`${name} counts past ${above}`, async () => {
    const n = await count(name);
    return n > above ? n : undefined;
  });
}

async function probe(name: string): Promise<{ sysv: number[]; posix: number[]; ipcns: number }> {
  const text = await cli("exec", name, "cat", "/tmp/ipc-probe.txt");
  const line = (k: string) => text.split("\n").find((l) => l.startsWith(`${k} `))!.split(" ").slice(1).map(Number);
  return { sysv: line("sysv"), posix: line("posix"), ipcns: line("ipcns")[0]! };
}

describe("checkpoints between hosts", () => {
  it("export, remove, import, and a restore on the other host goes on counting", async () => {
    await cli("run", "-d", "--name", "mv-a", "--rootfs", rootfs, "sh", "-c", COUNTER);
    const from = await hostOf("mv-a");
    await counting("mv-a", 5);
    await cli("checkpoint", "create", "mv-a", "c1");
    const file = join(scratch, "c1.tar");
    expect(await cli("checkpoint", "export", "mv-a", "c1", "-o", file)).toBe("");
    const exported = JSON.parse((await cli("checkpoint", "ls", "mv-a", "--format", "json")).trim());
    await cli("checkpoint", "rm", "mv-a", "c1");
    expect(await cli("checkpoint", "ls", "mv-a")).toBe("CHECKPOINT NAME\n");
    expect((await cli("checkpoint", "import", file)).trim()).toBe("mv-a/c1");
    const imported = JSON.parse((await cli("checkpoint", "ls", "mv-a", "--format", "json")).trim());
    // The same content, the same digest.
    expect(imported).toMatchObject({ Name: "c1", Digest: exported.Digest, Replicated: true, Host: from });
    // A second import of the same name is refused.
    const again = await stack.cli(["checkpoint", "import", file]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("cannot checkpoint container mv-a: checkpoint with name c1 already exists for container mv-a");

    const to = otherThan(from);
    expect(await cli("start", "--checkpoint", "c1", "--host", to, "mv-a")).toBe("");
    expect(await hostOf("mv-a")).toBe(to);
    const at = await count("mv-a");
    expect(at).toBeGreaterThan(5);
    await counting("mv-a", at);
    await cli("rm", "-f", "mv-a");
  }, 240_000);

  it("an archive that is not a checkpoint is refused, and nothing is recorded", async () => {
    const bad = join(scratch, "bad.tar");
    await import("node:fs/promises").then((fs) => fs.writeFile(bad, "not a tar archive at all".repeat(100)));
    const events = await stack.eventCount();
    const r = await stack.cli(["checkpoint", "import", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^shoal: Error response from daemon: not a checkpoint archive/);
    expect(await stack.eventCount()).toBe(events);
  });

  it("start --checkpoint --host restores straight on another host, and still after the first host is lost", async () => {
    await cli("run", "-d", "--name", "mv-b", "--rootfs", rootfs, "sh", "-c", COUNTER);
    const from = await hostOf("mv-b");
    const to = otherThan(from);
    await counting("mv-b", 5);
    await cli("checkpoint", "create", "mv-b", "c1");
    expect(await cli("start", "--checkpoint", "c1", "--host", to, "mv-b")).toBe("");
    expect(await hostOf("mv-b")).toBe(to);
    const at = await counting("mv-b", 5);
    // Now replicated: once its first host is gone, it still restores (on the host that is left).
    expect(JSON.parse((await cli("checkpoint", "ls", "mv-b", "--format", "json")).trim())).toMatchObject({ Replicated: true, Host: from });
    await cli("stop", "-t", "1", "mv-b");
    await stack.fleet.cut(from);
    try {
      await eventually(`${from} lost`, async () => {
        const line = (await cli("hosts", "--format", "json")).split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((h) => h.Name === from);
        return line?.Status === "lost" ? true : undefined;
      });
      expect(await cli("start", "--checkpoint", "c1", "mv-b")).toBe("");
      expect(await hostOf("mv-b")).toBe(to);
      expect(await counting("mv-b", 5)).toBeLessThan(at + 1000);
    } finally {
      await stack.fleet.heal(from);
    }
    await eventually(`${from} ready again`, async () => {
      const line = (await cli("hosts", "--format", "json")).split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((h) => h.Name === from);
      return line?.Status === "ready" ? true : undefined;
    });
    await cli("rm", "-f", "mv-b");
  }, 240_000);

  it("host drain --checkpoint moves an IPC group by checkpoint: still one namespace, its shared memory going on", async () => {
    await cli("run", "-d", "--name", "d-own", "--ipc", "shareable", "--rootfs", rootfs, "/bin/ipc-probe", "0");
    await cli("run", "-d", "--name", "d-mem", "--ipc", "container:d-own", "--rootfs", rootfs, "/bin/ipc-probe", "1");
    const from = await hostOf("d-own");
    expect(await hostOf("d-mem")).toBe(from);
    const before = await eventually("the probes share memory", async () => {
      const [o, m] = [await probe("d-own"), await probe("d-mem")];
      return o.sysv[1]! > 3 && m.posix[0]! > 3 ? { o, m } : undefined;
    });
    const drained = await stack.cli(["host", "drain", "--checkpoint", from], { timeoutMs: 180_000 });
    expect(drained.code, drained.stderr).toBe(0);
    expect(drained.stdout.trim().split("\n").sort()).toEqual([(await inspect("d-own")).Id, (await inspect("d-mem")).Id].sort());
    const to = otherThan(from);
    expect([await hostOf("d-own"), await hostOf("d-mem")]).toEqual([to, to]);
    const after = await eventually("both sides see the other move after the move", async () => {
      const [o, m] = [await probe("d-own"), await probe("d-mem")];
      const moved = o.sysv[1]! > before.o.sysv[1]! + 3 && m.posix[0]! > before.m.posix[0]! + 3 && o.posix[1]! > before.o.posix[1]! && m.sysv[0]! > before.m.sysv[0]!;
      return moved ? { o, m } : undefined;
    });
    expect(after.o.ipcns).toBe(after.m.ipcns);
    // It went on from where it was: the counts did not start again.
    expect(after.o.sysv[0]).toBeGreaterThan(before.o.sysv[0]!);
    await cli("host", "activate", from);
    await cli("rm", "-f", "d-mem", "d-own");
  }, 240_000);
});
