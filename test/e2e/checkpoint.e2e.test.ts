/**
 * Checkpoint and restore through the `shoal` CLI on a real stack (containerd, runc, Shoal's
 * CRIU): each IPC mode keeps its counting loop and its /dev/shm file; every refusal of the
 * preflight leaves everything as it was; a whole IPC group comes back sharing its IPC
 * namespace, a POSIX mapping and a System V segment; and a kill -9 of the agent mid-dump or
 * mid-restore leaves no half-made checkpoint, temporary directory or mount.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rootfsWithIpcProbe } from "@shoal/testing";
import { eventually, sleep, startStack, Status } from "./stack";
import type { E2eStack, GrpcError } from "./stack";

let stack: E2eStack;
let rootfs: string;
let scratch: string;

beforeAll(async () => {
  stack = await startStack();
  scratch = await mkdtemp(join(tmpdir(), "shoal-cp-e2e-"));
  rootfs = await rootfsWithIpcProbe(stack.rootfs, join(scratch, "rootfs"));
  expect((await stack.cli(["config", "set", "experimental=true"])).code).toBe(0);
}, 180_000);

afterAll(async () => {
  await stack?.teardown();
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
});

/** A loop that counts in /tmp/count and in /dev/shm/count (made in /dev when nothing is mounted there). */
const COUNTER = "mkdir -p /dev/shm; i=0; while true; do i=$((i+1)); echo $i > /tmp/count; echo $i > /dev/shm/count; sleep 0.05; done";

async function cli(...args: string[]): Promise<string> {
  const r = await stack.cli(args, { timeoutMs: 180_000 });
  expect(r.code, `shoal ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function run(name: string, flags: string[], ...command: string[]): Promise<string> {
  return (await cli("run", "-d", "--name", name, ...flags, "--rootfs", rootfs, ...command)).trim();
}

/** The count in `file`; read again when caught between the loop's truncation and its write. */
const count = (name: string, file = "/tmp/count") =>
  eventually(`${name}'s ${file}`, async () => {
    const text = (await cli("exec", name, "cat", file)).trim();
    return text === "" ? undefined : Number(text);
  });
const status = async (name: string) => JSON.parse(await cli("inspect", name))[0].State.Status as string;

async function counting(name: string, above: number): Promise<number> {
  return eventually(`${name} counts past ${above}`, async () => {
    const r = await stack.cli(["exec", name, "cat", "/tmp/count"]);
    const n = r.code === 0 ? Number(r.stdout.trim()) : 0;
    return n > above ? n : undefined;
  });
}

/** Resolves as soon as a checkpoint-directory entry starting with `prefix` appears (polled every 5 ms: the step may be short). */
async function whenStepBegins(prefix: string, timeoutMs = 60_000): Promise<void> {
  const dir = join(stack.stateRoot, "checkpoints");
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (existsSync(dir) && (await readdir(dir)).some((n) => n.startsWith(prefix))) return;
    await sleep(5);
  }
  throw new Error(`no ${prefix}* entry appeared in ${dir}`);
}

/** The ipc-probe report of a container: its slots and namespace. */
async function probe(name: string): Promise<{ sysv: [number, number]; posix: [number, number]; ipcns: number }> {
  const text = await cli("exec", name, "cat", "/tmp/ipc-probe.txt");
  const line = (k: string) => text.split("\n").find((l) => l.startsWith(`${k} `))!.split(" ").slice(1).map(Number);
  return { sysv: line("sysv") as [number, number], posix: line("posix") as [number, number], ipcns: line("ipcns")[0]! };
}

/** Waits until nothing of container `name` (by its id) is mounted under the state root. */
async function noMountsOf(id: string): Promise<void> {
  await eventually(`no mount of ${id} left`, async () => ((await stack.mountsUnderStateRoot()).some((m) => m.includes(id)) ? undefined : true), 30_000);
}

async function leftovers(): Promise<string[]> {
  const dir = join(stack.stateRoot, "checkpoints");
  return existsSync(dir) ? (await readdir(dir)).filter((n) => n.startsWith(".")) : [];
}

describe("each IPC mode: a counting loop and its /dev/shm file come back", () => {
  it.each([
    ["private", ["--ipc", "private"]],
    ["none", ["--ipc", "none"]],
    ["shareable", ["--ipc", "shareable"]],
  ])("%s", async (mode, flags) => {
    const name = `cp-${mode}`;
    await run(name, flags, "sh", "-c", COUNTER);
    await counting(name, 5);
    expect((await cli("checkpoint", "create", name, "c1")).trim()).toBe("c1");
    // Docker's: the checkpoint stops the container.
    expect(await status(name)).toBe("exited");
    expect(await cli("checkpoint", "ls", name)).toBe("CHECKPOINT NAME\nc1\n");
    const ls = JSON.parse((await cli("checkpoint", "ls", name, "--format", "json")).trim());
    expect(ls).toMatchObject({ Name: "c1", Mode: mode, Host: stack.host, ShmSaved: mode === "shareable" });
    expect(ls.Digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    expect(await cli("start", "--checkpoint", "c1", name)).toBe("");
    expect(await status(name)).toBe("running");
    const shm = await count(name, "/dev/shm/count");
    const at = await count(name);
    // It went on from where it was: a fresh start would count from 1 again.
    expect(at).toBeGreaterThan(5);
    expect(shm).toBeGreaterThan(5);
    await counting(name, at);
    expect(await count(name, "/dev/shm/count")).toBeGreaterThan(shm);
    expect(await leftovers()).toEqual([]);
    await cli("rm", "-f", name);
  }, 120_000);

  it("--leave-running keeps it running, and the restore of a removed checkpoint is refused", async () => {
    await run("cp-live", ["--ipc", "private"], "sh", "-c", COUNTER);
    await counting("cp-live", 3);
    await cli("checkpoint", "create", "--leave-running", "cp-live", "c1");
    expect(await status("cp-live")).toBe("running");
    await counting("cp-live", await count("cp-live"));
    await cli("checkpoint", "rm", "cp-live", "c1");
    expect(await cli("checkpoint", "ls", "cp-live")).toBe("CHECKPOINT NAME\n");
    await cli("stop", "-t", "1", "cp-live");
    const r = await stack.cli(["start", "--checkpoint", "c1", "cp-live"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("checkpoint c1 does not exist for container /cp-live");
    expect(await status("cp-live")).toBe("exited");
    await cli("rm", "-f", "cp-live");
  }, 120_000);
});

describe("the checkpoints projection", () => {
  it("is rebuilt from the log: emptied and replayed by a restarted api, it lists the same checkpoints", async () => {
    await run("pr-a", ["--ipc", "private"], "sleep", "3600");
    await cli("checkpoint", "create", "--leave-running", "pr-a", "one");
    await cli("checkpoint", "create", "--leave-running", "pr-a", "two");
    await cli("checkpoint", "create", "--leave-running", "pr-a", "three");
    await cli("checkpoint", "rm", "pr-a", "two");
    const before = await cli("checkpoint", "ls", "pr-a", "--format", "json");
    expect(before.trim().split("\n").map((l) => JSON.parse(l).Name)).toEqual(["one", "three"]);
    await stack.db.deleteFrom("api_checkpoints").execute();
    await stack.db.deleteFrom("projection_checkpoints").where("name", "=", "api-checkpoints").execute();
    await stack.restart("api");
    expect(await cli("checkpoint", "ls", "pr-a", "--format", "json")).toBe(before);
    await cli("rm", "-f", "pr-a");
  }, 120_000);
});

describe("refusals: FAILED_PRECONDITION with a hint (exit 1 from the CLI), nothing changed", () => {
  async function refused(args: string[], message: string, code = Status.FAILED_PRECONDITION): Promise<void> {
    const events = await stack.eventCount();
    const r = await stack.cli(args);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toBe(`shoal: Error response from daemon: ${message}\n`);
    expect(await stack.eventCount()).toBe(events);
    const [_cmd, sub] = args;
    if (sub === "create") {
      const [container, name] = args.filter((a) => !a.startsWith("--")).slice(2);
      const grpc = await stack.call("Checkpoints", "CreateCheckpoint", { container, name, group: args.includes("--group") }).then(
        () => undefined,
        (e: GrpcError) => e,
      );
      expect(grpc?.code).toBe(code);
    }
  }

  beforeAll(async () => {
    await run("r-host", ["--ipc", "host"], "sleep", "3600");
    await run("r-own", ["--ipc", "shareable"], "sleep", "3600");
    await run("r-mem", ["--ipc", "container:r-own"], "sleep", "3600");
    await run("r-priv", ["--ipc", "private"], "sleep", "3600");
    await cli("create", "--name", "r-stopped", "--rootfs", rootfs, "sleep", "3600");
  }, 120_000);

  it("host IPC", () =>
    refused(
      ["checkpoint", "create", "r-host", "c1"],
      "cannot checkpoint container r-host: it uses the host's IPC namespace (--ipc host), whose state is outside the container (hint: run it with --ipc private or shareable)",
    ));
  it("a member alone", () =>
    refused(["checkpoint", "create", "r-mem", "c1"], "cannot checkpoint container r-mem alone: it shares the IPC namespace of r-own (hint: checkpoint the group: --group r-own)"));
  it("a shareable owner with a live member, without --group", () =>
    refused(["checkpoint", "create", "r-own", "c1"], "cannot checkpoint container r-own alone: r-mem shares its IPC namespace (hint: checkpoint the group: --group r-own)"));
  it("--group on a container that owns no group", () =>
    refused(["checkpoint", "create", "--group", "r-priv", "c1"], "--group needs the owner of an IPC group: container r-priv is not shareable (--ipc private)"));
  it("a container that does not run (Docker's words)", () => refused(["checkpoint", "create", "r-stopped", "c1"], "Container r-stopped not running"));
  it("a name Docker refuses", () =>
    refused(["checkpoint", "create", "r-priv", "a/b"], "Invalid checkpoint ID (a/b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", Status.INVALID_ARGUMENT));
  it("a name the container's checkpoints already have (Docker's words)", async () => {
    await cli("checkpoint", "create", "--leave-running", "r-priv", "dup");
    await refused(["checkpoint", "create", "r-priv", "dup"], "cannot checkpoint container r-priv: checkpoint with name dup already exists for container r-priv", Status.ALREADY_EXISTS);
    expect(await status("r-priv")).toBe("running");
  });
  it("every checkpoint command without experimental", async () => {
    await cli("config", "set", "experimental=false");
    try {
      for (const sub of ["create", "ls", "rm", "export"]) {
        const args = sub === "create" || sub === "rm" ? [sub, "r-priv", "c9"] : sub === "ls" ? [sub, "r-priv"] : [sub, "r-priv", "c9", "-o", join(scratch, "x")];
        await refused(["checkpoint", ...args], `shoal checkpoint ${sub} is only supported on a Shoal daemon with experimental features enabled`);
      }
      expect(existsSync(join(scratch, "x"))).toBe(false);
    } finally {
      await cli("config", "set", "experimental=true");
    }
  });
});

describe("a whole IPC group", () => {
  it("comes back in one IPC namespace, its POSIX mapping and its System V segment still shared", async () => {
    const ownId = await run("g-own", ["--ipc", "shareable"], "/bin/ipc-probe", "0");
    await run("g-mem", ["--ipc", "container:g-own"], "/bin/ipc-probe", "1");
    const before = await eventually("the probes share memory", async () => {
      const [o, m] = [await probe("g-own"), await probe("g-mem")];
      return o.sysv[1] > 3 && m.posix[0] > 3 ? { o, m } : undefined;
    });
    expect(before.o.ipcns).toBe(before.m.ipcns);

    expect((await cli("checkpoint", "create", "--group", "g-own", "g1")).trim()).toBe("g1");
    expect([await status("g-own"), await status("g-mem")]).toEqual(["exited", "exited"]);
    const info = JSON.parse((await cli("checkpoint", "ls", "g-own", "--format", "json")).trim());
    expect(info).toMatchObject({ Name: "g1", Mode: "shareable", ShmSaved: true });
    expect(info.Members).toHaveLength(1);

    expect(await cli("start", "--checkpoint", "g1", "g-own")).toBe("");
    expect([await status("g-own"), await status("g-mem")]).toEqual(["running", "running"]);
    const after = await eventually("both sides see the other move after the restore", async () => {
      const [o, m] = [await probe("g-own"), await probe("g-mem")];
      const moved = o.sysv[1] > before.o.sysv[1] + 3 && o.posix[1] > before.o.posix[1] + 3 && m.sysv[0] > before.m.sysv[0] + 3 && m.posix[0] > before.m.posix[0] + 3;
      return moved ? { o, m } : undefined;
    });
    // One namespace (a new one: the owner's restored namespace, which the member joined).
    expect(after.o.ipcns).toBe(after.m.ipcns);
    const owner = JSON.parse(await cli("inspect", "g-own"))[0];
    expect(JSON.parse(await cli("inspect", "g-mem"))[0].HostConfig.IpcMode).toBe(`container:${owner.Id}`);
    // The counts went on from before the checkpoint (the shared memory came back with its contents).
    expect(after.o.sysv[0]).toBeGreaterThan(before.o.sysv[0]);
    expect(after.m.posix[1]).toBeGreaterThan(before.m.posix[1]);
    // Another start of the group from the same checkpoint works again (a checkpoint is not used up).
    await cli("stop", "-t", "1", "g-mem");
    await cli("stop", "-t", "1", "g-own");
    expect(await cli("start", "--checkpoint", "g1", "g-own")).toBe("");
    expect([await status("g-own"), await status("g-mem")]).toEqual(["running", "running"]);
    await cli("rm", "-f", "g-mem", "g-own");
    await noMountsOf(ownId);
    expect(await leftovers()).toEqual([]);
  }, 180_000);
});

describe("faults: kill -9 of the agent", () => {
  /** A container whose dump (and restore) takes a while: 384 MiB in its private /dev/shm. */
  async function heavy(name: string): Promise<void> {
    await run(name, ["--ipc", "private", "--shm-size", "512m"], "sh", "-c", `dd if=/dev/zero of=/dev/shm/fill bs=1M count=384 2>/dev/null; ${COUNTER}`);
    await counting(name, 3);
  }

  it("mid-dump: no half-made checkpoint is listed, nothing is left behind, the last good checkpoint restores", async () => {
    await heavy("f-dump");
    await cli("checkpoint", "create", "--leave-running", "f-dump", "good");
    const creating = stack.cli(["checkpoint", "create", "f-dump", "bad"], { timeoutMs: 180_000 });
    await whenStepBegins(".tmp-");
    await stack.kill9("runtime-agent");
    const r = await creating;
    expect(r.code).toBe(1);
    await stack.restart("runtime-agent");
    expect(await cli("checkpoint", "ls", "f-dump")).toBe("CHECKPOINT NAME\ngood\n");
    expect(await leftovers()).toEqual([]);
    // Running on, or stopped and restorable from the last good checkpoint.
    const s = await eventually("the container settles", async () => {
      const st = await status("f-dump");
      return st === "running" || st === "exited" ? st : undefined;
    });
    if (s === "exited") expect(await cli("start", "--checkpoint", "good", "f-dump")).toBe("");
    await counting("f-dump", 0);
    await cli("rm", "-f", "f-dump");
  }, 240_000);

  it("mid-restore: the checkpoint stays listed and restorable, nothing is left behind", { timeout: 400_000 }, async () => {
    await heavy("f-rest");
    await cli("checkpoint", "create", "f-rest", "c1");
    const restoring = stack.cli(["start", "--checkpoint", "c1", "f-rest"], { timeoutMs: 180_000 });
    await whenStepBegins(".restore-");
    await stack.kill9("runtime-agent");
    await restoring;
    await stack.restart("runtime-agent");
    expect(await cli("checkpoint", "ls", "f-rest")).toBe("CHECKPOINT NAME\nc1\n");
    expect(await leftovers()).toEqual([]);
    const s = await eventually("the container settles", async () => {
      const st = await status("f-rest");
      return st === "running" || st === "exited" || st === "start-failed" || st === "created" ? st : undefined;
    }, 150_000);
    if (s !== "running") {
      // Restorable again once the interrupted restore is undone (CRIU may still be finishing it under load).
      await eventually("a restore from c1 succeeds", async () => ((await stack.cli(["start", "--checkpoint", "c1", "f-rest"])).code === 0 ? true : undefined), 150_000);
    }
    await counting("f-rest", 3);
    await cli("rm", "-f", "f-rest");
  });
});
