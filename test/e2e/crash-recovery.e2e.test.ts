/**
 * kill -9 of the scheduler, the mount-manager or the api in the middle of 20 concurrent
 * starts, then a restart: every container ends running or failed with a reason, none is
 * started twice (one ContainerStarted per container, one runc task per running container),
 * and no shm mount is leaked (one per running shareable container, none once all are removed).
 * A third of the starts are members of an owner started just before, so IPC groups go
 * through the crash too.
 *
 * The kill is triggered by the log, not by a timer: once some starts have passed the step
 * of the killed service and some have not.
 */
import { readdir } from "node:fs/promises";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startStack } from "./stack";
import type { E2eStack, GrpcError, Service } from "./stack";

const execFileAsync = promisify(execFile);
const STARTS = 20;
/** Modes cycled over the 20 starts; `member` joins the run's pre-started owner. */
const MODES = ["shareable", "private", "member", "none", "shareable", "member", "private"];

let stack: E2eStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.teardown();
});

async function countEvents(type: string, ids: string[]): Promise<number> {
  const streams = ids.map((id) => `container-${id}`);
  const r = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM events WHERE type = ${type} AND stream_id = ANY(${streams})`.execute(stack.db);
  return r.rows[0]!.n;
}

/** runc container ids (with their status) under the agent's runc root. */
async function runcContainers(): Promise<{ id: string; status: string }[]> {
  const out: { id: string; status: string }[] = [];
  const root = `${stack.runDir}/runc`;
  for (const ns of await readdir(root).catch(() => [] as string[])) {
    const { stdout } = await execFileAsync("runc", ["--root", `${root}/${ns}`, "list", "--format", "json"]);
    for (const c of (JSON.parse(stdout || "null") ?? []) as { id: string; status: string }[]) out.push({ id: c.id, status: c.status });
  }
  return out;
}

/**
 * Creates STARTS containers, starts them all at once over gRPC, kill -9s `victim` once
 * `killWhen` says the flow is half-way, restarts it, and retries any start whose call was
 * lost with the api. Resolves with the container ids once every start call has answered.
 */
async function startAllAndCrash(tag: string, victim: Service, killWhen: (ids: string[]) => Promise<boolean>): Promise<{ ids: string[]; owner: string }> {
  // Members need a running owner when they are created: one per run, started before the rush.
  const ownerRun = await stack.cli(["run", "-d", "--name", `${tag}-owner`, "--ipc", "shareable", "--rootfs", stack.rootfs, "/bin/sleep", "3600"]);
  expect(ownerRun.code, ownerRun.stderr).toBe(0);
  const owner = ownerRun.stdout.trim();
  const ids: string[] = [];
  for (let i = 0; i < STARTS; i++) {
    const m = MODES[i % MODES.length]!;
    const mode = m === "member" ? `container:${tag}-owner` : m;
    const r = await stack.call<any>("Containers", "CreateContainer", {
      name: `${tag}-${i}`,
      rootfs: stack.rootfs,
      args: ["/bin/sleep", "3600"],
      host_config: { ipc_mode: mode },
    });
    ids.push(r.id);
  }
  const start = (id: string) => stack.call<any>("Containers", "StartContainer", { container: id });
  const calls = ids.map((id) => start(id).then((res) => ({ id, res }), (err: GrpcError) => ({ id, err })));

  // Polled tightly: a fast step can take all 20 containers through in a few hundred ms.
  const deadline = Date.now() + 60_000;
  while (!(await killWhen(ids))) {
    if (Date.now() > deadline) throw new Error(`${victim}'s step never seen half-way through the starts`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await stack.kill9(victim);
  await stack.restart(victim);

  const answers = await Promise.all(calls);
  for (const a of answers) {
    if ("err" in a) {
      // Only the api's death may lose a call; the client retries (already running is a normal answer).
      expect(victim, `start of ${a.id} failed: ${a.err.message}`).toBe("api");
      await start(a.id);
    }
  }
  return { ids, owner };
}

/** Every container running or failed with a reason, started at most once, with matching runc tasks and shm mounts. */
async function expectSettledOnce({ ids, owner }: { ids: string[]; owner: string }): Promise<void> {
  const infos = await eventually(
    "every container running or failed",
    async () => {
      const list = await Promise.all(ids.map((id) => stack.call<any>("Containers", "InspectContainer", { container: id })));
      const settled = list.every((r) => r.container.state.running || r.container.state.error !== "");
      return settled ? list.map((r) => r.container) : undefined;
    },
    120_000,
  );
  const running = infos.filter((c) => c.state.running);
  const failed = infos.filter((c) => !c.state.running);
  for (const c of failed) expect(c.state.error, `container ${c.name}`).not.toBe("");
  // The stack is healthy, so every start is expected to succeed after recovery.
  expect(failed.map((c) => `${c.name}: ${c.state.error}`)).toEqual([]);

  for (const id of ids) {
    const types = (await stack.containerEvents(id)).map((e) => e.type);
    const started = types.filter((t) => t === "ContainerStarted").length;
    const startFailed = types.filter((t) => t === "ContainerStartFailed").length;
    expect({ id, started, startFailed, scheduled: types.filter((t) => t === "ContainerScheduled").length, prepared: types.filter((t) => t === "ContainerIpcPrepared").length }).toEqual({
      id,
      started: 1,
      startFailed: 0,
      scheduled: 1,
      prepared: 1,
    });
  }
  // One runc task per running container, none for anything else.
  const tasks = (await runcContainers()).filter((t) => ids.includes(t.id));
  expect(tasks.map((t) => t.id).sort()).toEqual(running.map((c) => c.id).sort());
  expect(tasks.every((t) => t.status === "running")).toBe(true);
  // Exactly one shm mount per running shareable container (none stacked, none for others).
  const mounts = await stack.mountsUnderStateRoot();
  const shm = mounts.filter((m) => m.endsWith("/mounts/shm"));
  const expected = [owner, ...running.filter((c) => c.effective_ipc_mode === "shareable").map((c) => c.id)].map(
    (id) => `${stack.stateRoot}/containers/${id}/mounts/shm`,
  );
  expect(shm.sort()).toEqual(expected.sort());
  // Members share their owner's IPC namespace.
  const ownerInode = (await stack.call<any>("Containers", "InspectContainer", { container: owner })).container.ipc_namespace_inode;
  const members = infos.filter((c) => c.host_config.ipc_mode.startsWith("container:"));
  expect(members.length).toBeGreaterThan(0);
  for (const m of members) expect(m.ipc_namespace_inode, m.name).toBe(ownerInode);
}

async function removeAll({ ids, owner }: { ids: string[]; owner: string }): Promise<void> {
  // SIGKILL first: `sleep` as pid 1 ignores SIGTERM, and rm -f of the owner would give each
  // member the full stop timeout in turn.
  const k = await stack.cli(["kill", ...ids, owner]);
  expect(k.code, k.stderr).toBe(0);
  const r = await stack.cli(["rm", "-f", owner, ...ids]);
  expect(r.code, r.stderr).toBe(0);
  await eventually("no shm mount left", async () => ((await stack.mountsUnderStateRoot()).length === 0 ? true : undefined), 60_000);
  expect((await runcContainers()).filter((t) => ids.includes(t.id))).toEqual([]);
}

/** Half-way: at least `min` but fewer than all containers have an event of `type`. */
function halfWay(type: string, min = 3): (ids: string[]) => Promise<boolean> {
  return async (ids) => {
    const n = await countEvents(type, ids);
    return n >= min && n < ids.length;
  };
}

describe("kill -9 in the middle of 20 concurrent starts", () => {
  it("the scheduler: placements resume after the restart, every container runs once", async () => {
    const run = await startAllAndCrash("sched", "scheduler", halfWay("ContainerScheduled"));
    await expectSettledOnce(run);
    await removeAll(run);
  });

  it("the mount-manager: IPC preparation resumes, shm mounted once per owner, every container runs once", async () => {
    const run = await startAllAndCrash("mm", "mount-manager", halfWay("ContainerIpcPrepared"));
    await expectSettledOnce(run);
    await removeAll(run);
  });

  it("the api: dispatch and report recording resume, retried starts are answered, every container runs once", async () => {
    const run = await startAllAndCrash("api", "api", halfWay("ContainerStarted"));
    await expectSettledOnce(run);
    await removeAll(run);
  });
});
