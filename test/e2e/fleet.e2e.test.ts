/**
 * The fleet through the real `shoal`: three namespace hosts (@shoal/testing's
 * startTestHosts: each its own network namespace, containerd and agent, reaching the
 * control plane's private NATS only through its veth), each offering 256 MiB and 1 CPU.
 * - the three hosts are ready;
 * - images are per host (`load --host`, `images --host`) and placement prefers a host holding the image;
 * - placement spreads three containers over the three hosts;
 * - an IPC group stays on its owner's host; a group too big for any one host is refused
 *   with the reason (exit 125, the host named and what it lacks) and nothing of it runs;
 * - a host cut off the network, its containers still running there, is marked lost after
 *   the heartbeat timeout while the others stay ready;
 * - fencing: its `--restart always` containers come back on another host exactly once; when
 *   it returns, it kills those copies before anything is adopted, and the containers still
 *   placed on it are adopted (running again, same process);
 * - `--stop-on-disconnect`: the cut-off host stops the container itself before the control
 *   plane places it elsewhere, so it never runs twice;
 * - the scheduler killed in the middle of a reschedule still gives exactly one copy.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestImage, writeDockerSaveArchive } from "@shoal/testing";
import type { TestHost } from "@shoal/testing";
import { eventually, startStack } from "./stack";
import type { FleetStack } from "./stack";

const execFileAsync = promisify(execFile);

const HOST_MEMORY = "256m";

let stack: FleetStack;
beforeAll(async () => {
  stack = await startStack({ hosts: 3, hostMemory: HOST_MEMORY, hostCpus: "1", heartbeatMs: 500 });
});
afterAll(async () => {
  await stack?.teardown();
  // No namespace, veth, process, mount, runc container, cgroup or directory of the hosts is left.
  if (stack !== undefined) expect(await stack.fleet.leftovers()).toEqual([]);
});

type HostLine = { Name: string; Status: string; Containers: number; MemoryBytes: number; MemoryReservedBytes: number };

async function hosts(): Promise<HostLine[]> {
  const r = await stack.cli(["hosts", "--format", "json"]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as HostLine);
}

async function inspect(ref: string): Promise<any> {
  const r = await stack.cli(["inspect", ref]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout)[0];
}

async function runDetached(name: string, ...flags: string[]): Promise<string> {
  const r = await stack.cli(["run", "-d", "--name", name, ...flags, "--rootfs", stack.rootfs, "/bin/sleep", "3600"]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

/** Task id → status (RUNNING, STOPPED…) in one host's containerd, namespace `shoal`. */
async function tasksOn(host: TestHost): Promise<Map<string, string>> {
  const { stdout } = await execFileAsync("ctr", ["--address", host.containerd.socket, "-n", "shoal", "tasks", "ls"]);
  const tasks = new Map<string, string>();
  for (const line of stdout.split("\n").slice(1)) {
    const [id, , status] = line.trim().split(/\s+/);
    if (id !== undefined && id !== "" && status !== undefined) tasks.set(id, status);
  }
  return tasks;
}

/** The hosts whose containerd has a task for `id`. */
async function hostsRunning(id: string): Promise<string[]> {
  const found: string[] = [];
  for (const h of stack.fleet.hosts) if ((await tasksOn(h)).has(id)) found.push(h.name);
  return found;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The hosts other than `except` whose containerd runs `id`. */
async function runningElsewhere(id: string, except: string): Promise<string[]> {
  const found: string[] = [];
  for (const h of stack.fleet.hosts) if (h.name !== except && (await tasksOn(h)).get(id) === "RUNNING") found.push(h.name);
  return found;
}

async function hostStatus(name: string): Promise<string | undefined> {
  return (await hosts()).find((h) => h.Name === name)?.Status;
}

/** Runs `body` with a short heartbeat timeout (restored afterwards). */
async function withHeartbeatTimeout(timeout: string, body: () => Promise<void>): Promise<void> {
  const set = await stack.cli(["config", "set", `heartbeat-timeout=${timeout}`]);
  expect(set.code, set.stderr).toBe(0);
  try {
    await body();
  } finally {
    await stack.cli(["config", "set", "heartbeat-timeout=15s"]);
  }
}

async function removeAll(...names: string[]): Promise<void> {
  const r = await stack.cli(["rm", "-f", ...names]);
  expect(r.code, r.stderr).toBe(0);
}

describe("a fleet of three namespace hosts", () => {
  it("lists the three hosts ready, each with the capacity it was given", async () => {
    const listed = await hosts();
    expect(listed.map((h) => h.Name).sort()).toEqual(stack.fleet.hosts.map((h) => h.name).sort());
    for (const h of listed) {
      expect(h.Status, h.Name).toBe("ready");
      expect(h.MemoryBytes, h.Name).toBe(256 * 1024 * 1024);
    }
    const table = await stack.cli(["hosts"]);
    expect(table.code, table.stderr).toBe(0);
    for (const h of stack.fleet.hosts) expect(table.stdout).toMatch(new RegExp(`^${h.name}\\s+ready\\s`, "m"));
  });

  it("images are per host: one loaded on a host is listed there only, and placement prefers that host", async () => {
    const [first, second] = [...stack.fleet.hosts].map((h) => h.name).sort();
    const archive = join(await mkdtemp(join(tmpdir(), "shoal-fleet-image-")), "busybox.tar");
    await writeDockerSaveArchive(await buildTestImage({ layersOnBusybox: [] }), archive, { repoTags: ["fleet/busybox:v1"] });
    const loaded = await stack.cli(["load", "-i", archive, "--host", second!]);
    expect(loaded.code, loaded.stderr).toBe(0);
    expect(loaded.stdout).toBe("Loaded image: fleet/busybox:v1\n");
    expect((await stack.cli(["images", "-q", "--host", first!])).stdout).toBe("");
    expect((await stack.cli(["images", "--host", second!])).stdout).toContain("fleet/busybox");
    // All hosts empty: without the image, the spread's tie would go to the first host by name.
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // three heartbeats carry the host's images
    const r = await stack.cli(["run", "-d", "--name", "img-1", "fleet/busybox:v1", "sleep 3600"]);
    expect(r.code, r.stderr).toBe(0);
    expect((await inspect("img-1")).Host).toBe(second);
    await removeAll("img-1");
  });

  it("spreads three containers over the three hosts, each running in its host's containerd", async () => {
    const ids = [await runDetached("spread-1"), await runDetached("spread-2"), await runDetached("spread-3")];
    const placed = await Promise.all(["spread-1", "spread-2", "spread-3"].map(async (n) => (await inspect(n)).Host as string));
    expect(new Set(placed).size).toBe(3);
    expect([...placed].sort()).toEqual(stack.fleet.hosts.map((h) => h.name).sort());
    for (const [i, id] of ids.entries()) expect(await hostsRunning(id)).toEqual([placed[i]]);
    await removeAll("spread-1", "spread-2", "spread-3");
  });

  it("keeps an IPC group on its owner's host, though the spread would put its members elsewhere", async () => {
    const owner = await runDetached("grp-owner", "--ipc", "shareable");
    const members = [await runDetached("grp-m1", "--ipc", "container:grp-owner"), await runDetached("grp-m2", "--ipc", "container:grp-owner")];
    const ownerHost = (await inspect("grp-owner")).Host as string;
    for (const n of ["grp-m1", "grp-m2"]) expect((await inspect(n)).Host, n).toBe(ownerHost);
    for (const id of [owner, ...members]) expect(await hostsRunning(id)).toEqual([ownerHost]);
    const ns = await stack.cli(["exec", "grp-m2", "readlink", "/proc/self/ns/ipc"]);
    const ownerNs = await stack.cli(["exec", "grp-owner", "readlink", "/proc/self/ns/ipc"]);
    expect(ns.stdout.trim()).toBe(ownerNs.stdout.trim());
    await removeAll("grp-m1", "grp-m2", "grp-owner");
  });

  it("enforces --memory and --cpus on a namespace host as cgroup limits, and reports an OOM kill as Docker does", async () => {
    await runDetached("limited", "-m", "64m", "--cpus", "0.5");
    const c = await inspect("limited");
    expect(c.HostConfig).toMatchObject({ Memory: 64 * 1024 * 1024, NanoCpus: 500_000_000 });
    const cgroup = await readFile(`/proc/${c.State.Pid}/cgroup`, "utf8");
    const path = (controller: string) => cgroup.split("\n").find((l) => l.split(":")[1]?.split(",").includes(controller))?.split(":")[2];
    const mem = path("memory");
    const cpu = path("cpu");
    if (mem !== undefined && cpu !== undefined) {
      expect((await readFile(`/sys/fs/cgroup/memory${mem}/memory.limit_in_bytes`, "utf8")).trim()).toBe(String(64 * 1024 * 1024));
      expect((await readFile(`/sys/fs/cgroup/cpu${cpu}/cpu.cfs_quota_us`, "utf8")).trim()).toBe("50000");
    } else {
      const unified = cgroup.split("\n").find((l) => l.startsWith("0::"))!.slice(3);
      expect((await readFile(`/sys/fs/cgroup${unified}/memory.max`, "utf8")).trim()).toBe(String(64 * 1024 * 1024));
      expect((await readFile(`/sys/fs/cgroup${unified}/cpu.max`, "utf8")).trim()).toBe("50000 100000");
    }
    // The host reserves what the container asked for.
    expect((await hosts()).find((h) => h.Name === c.Host)?.MemoryReservedBytes).toBe(64 * 1024 * 1024 + 64 * 1024 * 1024);
    const oom = await stack.cli([
      "run", "--name", "oom", "-m", "16m", "--shm-size", "128m", "--rootfs", stack.rootfs,
      "/bin/sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=100",
    ]);
    expect(oom.code).toBe(137);
    expect((await inspect("oom")).State).toMatchObject({ ExitCode: 137, OOMKilled: true });
    await removeAll("limited", "oom");
  });

  it("refuses a group whose shared memory no host can hold: exit 125, the closest host and what it lacks, nothing running", async () => {
    // The owner reserves the group's shm tmpfs; 300 MiB is more than any 256 MiB host offers.
    const r = await stack.cli(["run", "-d", "--name", "big-owner", "--ipc", "shareable", "--shm-size", "300m", "--rootfs", stack.rootfs, "/bin/sleep", "3600"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/no host has room: 300MiB of memory needed; host \S+-h\d \(the closest\) has 256MiB free \(44MiB of memory short\)/);
    const member = await stack.cli(["run", "-d", "--name", "big-member", "--ipc", "container:big-owner", "--rootfs", stack.rootfs, "/bin/true"]);
    expect(member.code).toBe(125);
    expect(member.stderr).toMatch(/big-owner is not running/);
    for (const n of ["big-owner", "big-member"]) {
      const c = await inspect(n);
      expect(c.State.Running, n).toBe(false);
      expect(await hostsRunning(c.Id), n).toEqual([]);
    }
    expect(await stack.mountsUnderStateRoot()).toEqual([]);
    await removeAll("big-owner", "big-member");
  });

  it("refuses the member that makes a group too big for its owner's host, though another host has room for it alone", async () => {
    // 128 MiB + the 64 MiB shm on the owner's host; the member's 100 MiB would bring the
    // group to 292 MiB, more than any host offers. Each empty host has room for it alone,
    // but a member goes to its owner's host or nowhere.
    const owner = await runDetached("tight-owner", "--ipc", "shareable", "--memory", "128m");
    const ownerHost = (await inspect("tight-owner")).Host as string;
    const r = await stack.cli(["run", "-d", "--name", "tight-member", "--ipc", "container:tight-owner", "--memory", "100m", "--rootfs", stack.rootfs, "/bin/sleep", "3600"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain(`no room for the member on host ${ownerHost} of IPC owner ${owner}: 100MiB of memory needed; host ${ownerHost} has 64MiB free (36MiB of memory short)`);
    const member = await inspect("tight-member");
    expect(member.State.Running).toBe(false);
    expect(await hostsRunning(member.Id)).toEqual([]);
    const others = (await hosts()).filter((h) => h.Name !== ownerHost);
    for (const h of others) expect(h.MemoryReservedBytes, h.Name).toBe(0);
    await removeAll("tight-member", "tight-owner");
  });

  it("marks a host cut off the network lost after the heartbeat timeout, its container still running there", async () => {
    const set = await stack.cli(["config", "set", "heartbeat-timeout=3s"]);
    expect(set.code, set.stderr).toBe(0);
    try {
      const id = await runDetached("cut-victim");
      const c = await inspect("cut-victim");
      const victim = stack.fleet.host(c.Host);
      const pid = c.State.Pid as number;
      expect(processAlive(pid)).toBe(true);

      await stack.fleet.cut(victim);
      const cutAt = Date.now();
      await eventually(`${victim.name} lost`, async () => ((await hosts()).find((h) => h.Name === victim.name)?.Status === "lost" ? true : undefined), 30_000);
      const lostAfterMs = Date.now() - cutAt;
      // Not before the timeout (less the last heartbeat interval): lost is judged on silence.
      expect(lostAfterMs).toBeGreaterThanOrEqual(2_000);
      for (const h of await hosts()) if (h.Name !== victim.name) expect(h.Status, h.Name).toBe("ready");
      // Lost is not dead: cut off, the container still runs on its host.
      expect(processAlive(pid)).toBe(true);
      expect((await tasksOn(victim)).get(id)).toBe("RUNNING");

      // Clean up: back on the network, a new registration makes the host ready again.
      await stack.fleet.heal(victim);
      await stack.fleet.restartAgent(victim);
      await eventually(`${victim.name} ready again`, async () => ((await hosts()).find((h) => h.Name === victim.name)?.Status === "ready" ? true : undefined), 30_000);
      await removeAll("cut-victim");
      await eventually("the victim's task gone", async () => ((await tasksOn(victim)).has(id) ? undefined : true), 30_000);
    } finally {
      await stack.cli(["config", "set", "heartbeat-timeout=15s"]);
    }
  });

  it("fencing: a lost host's `always` container comes back elsewhere exactly once; the returning host kills its copy first and adopts the rest", async () => {
    await withHeartbeatTimeout("3s", async () => {
      const moved = await runDetached("fence-always", "--restart", "always");
      const victim = stack.fleet.host((await inspect("fence-always")).Host);
      const stay = await runDetached("fence-stays", "--host", victim.name);
      const stayPid = (await inspect("fence-stays")).State.Pid as number;

      await stack.fleet.cut(victim);
      await eventually(`${victim.name} lost`, async () => ((await hostStatus(victim.name)) === "lost" ? true : undefined), 30_000);
      // Lost, not dead: the container without a policy is `lost`, still running where it was.
      await eventually("fence-stays lost", async () => ((await inspect("fence-stays")).State.Status === "lost" ? true : undefined), 15_000);
      expect(processAlive(stayPid)).toBe(true);
      // The `always` one is placed again on another host: exactly one copy there.
      const again = await eventually("fence-always running elsewhere", async () => {
        const c = await inspect("fence-always");
        return c.State.Status === "running" && c.Host !== victim.name ? c : undefined;
      }, 30_000);
      expect(again.RestartCount).toBe(1);
      expect(await runningElsewhere(moved, victim.name)).toEqual([again.Host]);

      // Back on the network: the host registers again, is fenced (its copy killed), then adopts.
      await stack.fleet.heal(victim);
      await eventually(`${victim.name} ready again`, async () => ((await hostStatus(victim.name)) === "ready" ? true : undefined), 30_000);
      await eventually("the returning host's copy killed", async () => ((await tasksOn(victim)).get(moved) === undefined ? true : undefined), 30_000);
      await eventually("fence-stays adopted", async () => ((await inspect("fence-stays")).State.Status === "running" ? true : undefined), 30_000);
      const adopted = await inspect("fence-stays");
      expect(adopted).toMatchObject({ Host: victim.name, State: { Pid: stayPid, Running: true } });
      expect(processAlive(stayPid)).toBe(true);
      // Still exactly one copy of the moved container, where it was placed again, and it kept running.
      expect(await runningElsewhere(moved, victim.name)).toEqual([again.Host]);
      expect(await inspect("fence-always")).toMatchObject({ Host: again.Host, RestartCount: 1, State: { Status: "running" } });
      expect(await hostsRunning(stay)).toEqual([victim.name]);
      await removeAll("fence-always", "fence-stays");
    });
  });

  it("--stop-on-disconnect: the cut-off host stops the container before it is placed elsewhere, so it never runs twice", async () => {
    await withHeartbeatTimeout("4s", async () => {
      const id = await runDetached("self-fenced", "--restart", "always", "--stop-on-disconnect", "1s");
      const first = await inspect("self-fenced");
      const victim = stack.fleet.host(first.Host);
      const oldPid = first.State.Pid as number;

      await stack.fleet.cut(victim);
      // Watch until it runs elsewhere: at no moment may the old copy be alive while a new one runs.
      let overlap = false;
      await eventually("self-fenced running elsewhere", async () => {
        const elsewhere = await runningElsewhere(id, victim.name);
        if (elsewhere.length > 0 && processAlive(oldPid)) overlap = true;
        return elsewhere.length === 1 ? elsewhere : undefined;
      }, 30_000);
      expect(overlap).toBe(false);
      expect(processAlive(oldPid)).toBe(false);
      expect(await inspect("self-fenced")).toMatchObject({ RestartCount: 1, State: { Status: "running" }, HostConfig: { StopOnDisconnect: "1s" } });

      await stack.fleet.heal(victim);
      await eventually(`${victim.name} ready again`, async () => ((await hostStatus(victim.name)) === "ready" ? true : undefined), 30_000);
      expect((await runningElsewhere(id, victim.name)).length).toBe(1);
      expect((await tasksOn(victim)).get(id)).not.toBe("RUNNING");
      await removeAll("self-fenced");
    });
  });

  it("a --stop-on-disconnect not shorter than the heartbeat timeout is refused with exit 125, and nothing is recorded", async () => {
    const r = await stack.cli(["run", "-d", "--name", "too-late", "--stop-on-disconnect", "20s", "--rootfs", stack.rootfs, "/bin/true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("--stop-on-disconnect 20s must be shorter than the heartbeat timeout (15s)");
    expect((await stack.cli(["ps", "-a", "-q", "--filter", "name=too-late"])).stdout).toBe("");
  });

  it("with the scheduler killed in the middle of a reschedule, the container still runs exactly once", async () => {
    await withHeartbeatTimeout("3s", async () => {
      const id = await runDetached("resched", "--restart", "always");
      const victim = stack.fleet.host((await inspect("resched")).Host);
      await stack.fleet.cut(victim);
      await eventually(`${victim.name} lost`, async () => ((await hostStatus(victim.name)) === "lost" ? true : undefined), 30_000);
      // The loss was just recorded: the restart is being planned and placed. Kill the scheduler now.
      await stack.kill9("scheduler");
      await stack.restart("scheduler");
      await eventually("resched running elsewhere", async () => {
        const c = await inspect("resched");
        return c.State.Status === "running" && c.Host !== victim.name ? true : undefined;
      }, 60_000);
      expect((await runningElsewhere(id, victim.name)).length).toBe(1);
      await stack.fleet.heal(victim);
      await eventually("the returning host's copy killed", async () => ((await tasksOn(victim)).get(id) === undefined ? true : undefined), 60_000);
      expect((await runningElsewhere(id, victim.name)).length).toBe(1);
      expect((await inspect("resched")).RestartCount).toBe(1);
      await removeAll("resched");
    });
  });

  it("an IPC group with a restart policy comes back together on another host, the owner first, its member in the new owner's namespace", async () => {
    await withHeartbeatTimeout("3s", async () => {
      const owner = await runDetached("g-owner", "--ipc", "shareable", "--restart", "always");
      const member = await runDetached("g-member", "--ipc", "container:g-owner", "--restart", "always");
      const victim = stack.fleet.host((await inspect("g-owner")).Host);
      expect((await inspect("g-member")).Host).toBe(victim.name);

      await stack.fleet.cut(victim);
      const back = await eventually("the group running together elsewhere", async () => {
        const [o, m] = [await inspect("g-owner"), await inspect("g-member")];
        const up = o.State.Status === "running" && m.State.Status === "running" && o.Host !== victim.name;
        return up && m.Host === o.Host ? { o, m } : undefined;
      }, 60_000);
      expect(back.m.IpcGroup).toMatchObject({ Owner: owner, Role: "member" });
      const ns = await stack.cli(["exec", "g-member", "readlink", "/proc/self/ns/ipc"]);
      const ownerNs = await stack.cli(["exec", "g-owner", "readlink", "/proc/self/ns/ipc"]);
      expect(ns.code, ns.stderr).toBe(0);
      expect(ns.stdout.trim()).toBe(ownerNs.stdout.trim());
      // Shared memory works in the new place: the member sees what the owner writes to /dev/shm.
      expect((await stack.cli(["exec", "g-owner", "sh", "-c", "echo moved > /dev/shm/flag"])).code).toBe(0);
      expect((await stack.cli(["exec", "g-member", "cat", "/dev/shm/flag"])).stdout).toBe("moved\n");
      for (const id of [owner, member]) expect(await runningElsewhere(id, victim.name)).toEqual([back.o.Host]);

      await stack.fleet.heal(victim);
      await eventually("the returning host's copies killed", async () => {
        const t = await tasksOn(victim);
        return t.get(owner) === undefined && t.get(member) === undefined ? true : undefined;
      }, 30_000);
      for (const id of [owner, member]) expect(await runningElsewhere(id, victim.name)).toEqual([back.o.Host]);
      await removeAll("g-member", "g-owner");
    });
  });

  it("a drain stops placements on a host and moves what runs there elsewhere, a group as a unit; activate ends it", async () => {
    // Commands that end on SIGTERM, so the drain's stops take no grace period.
    const polite = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"];
    const run = async (name: string, ...flags: string[]) => {
      const r = await stack.cli(["run", "-d", "--name", name, ...flags, "--rootfs", stack.rootfs, ...polite]);
      expect(r.code, r.stderr).toBe(0);
    };
    await run("dr-owner", "--ipc", "shareable");
    await run("dr-member", "--ipc", "container:dr-owner");
    const target = stack.fleet.host((await inspect("dr-owner")).Host);
    expect([...(await tasksOn(target)).values()].filter((s) => s === "RUNNING").length).toBe(2);

    const drain = await stack.cli(["host", "drain", target.name]);
    expect(drain.code, drain.stderr).toBe(0);
    expect(drain.stdout.trim().split("\n")).toHaveLength(2);
    expect((await hosts()).find((h) => h.Name === target.name)?.Status).toBe("draining");
    // Empty: nothing of Shoal's runs on the drained host.
    expect([...(await tasksOn(target)).values()].filter((s) => s === "RUNNING")).toEqual([]);
    const [o, m] = [await inspect("dr-owner"), await inspect("dr-member")];
    expect(o.State.Running && m.State.Running).toBe(true);
    expect(o.Host).not.toBe(target.name);
    expect(m.Host).toBe(o.Host);
    const ns = await stack.cli(["exec", "dr-member", "readlink", "/proc/self/ns/ipc"]);
    expect(ns.stdout.trim()).toBe((await stack.cli(["exec", "dr-owner", "readlink", "/proc/self/ns/ipc"])).stdout.trim());
    // No new placement goes there while it drains, though it is the emptiest host.
    for (const n of ["dr-after-1", "dr-after-2"]) {
      await run(n);
      expect((await inspect(n)).Host, n).not.toBe(target.name);
    }
    // `ps --filter host=` lists what a host runs: nothing on the drained one.
    expect((await stack.cli(["ps", "-q", "--filter", `host=${target.name}`])).stdout).toBe("");

    const activate = await stack.cli(["host", "activate", target.name]);
    expect(activate.code, activate.stderr).toBe(0);
    expect((await hosts()).find((h) => h.Name === target.name)?.Status).toBe("ready");
    await run("dr-back");
    expect((await inspect("dr-back")).Host).toBe(target.name);
    const unknown = await stack.cli(["host", "drain", "no-such-host"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no such host: no-such-host");
    await removeAll("dr-owner", "dr-member", "dr-after-1", "dr-after-2", "dr-back");
  });
});
