/**
 * Restart policies and resource limits through the real `shoal` and the whole stack, as
 * Docker's `--restart`, `--memory` and `--cpus` behave: the policy restarts an exiting
 * container with its backoff and counts it (RestartCount), a stop or kill by the user ends
 * it, `on-failure:N` gives up after N; the limits reach the container's cgroup, an OOM
 * kill shows as Docker shows it, and bad values are refused with exit 125 and nothing
 * recorded.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Status, startStack } from "./stack";
import type { E2eStack } from "./stack";

let stack: E2eStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.teardown();
});

async function inspect(ref: string): Promise<any> {
  const r = await stack.cli(["inspect", ref]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout)[0];
}

/** Polls `inspect` until `ok` holds (at most `ms`); returns the last inspect. */
async function until(ref: string, ok: (c: any) => boolean, ms = 20_000): Promise<any> {
  const deadline = Date.now() + ms;
  for (;;) {
    const c = await inspect(ref);
    if (ok(c)) return c;
    if (Date.now() > deadline) throw new Error(`${ref}: condition not met within ${ms} ms; last state ${JSON.stringify(c.State)} RestartCount ${c.RestartCount}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The memory limit and CFS quota/period of a host pid's cgroup, on cgroup v2
 * (`memory.max`, `cpu.max`) or v1 (`memory.limit_in_bytes`, `cpu.cfs_quota_us`/`cpu.cfs_period_us`).
 */
async function cgroupLimits(pid: number): Promise<{ memory: string; cpu: string }> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, "utf8")).trim().split("\n").map((l) => l.split(":"));
  const v1 = (controller: string) => lines.find(([, c]) => c!.split(",").includes(controller))?.[2];
  const memoryPath = v1("memory");
  const cpuPath = v1("cpu");
  if (memoryPath !== undefined && cpuPath !== undefined) {
    const read = (f: string) => readFile(f, "utf8").then((t) => t.trim());
    const [memory, quota, period] = await Promise.all([
      read(`/sys/fs/cgroup/memory${memoryPath}/memory.limit_in_bytes`),
      read(`/sys/fs/cgroup/cpu${cpuPath}/cpu.cfs_quota_us`),
      read(`/sys/fs/cgroup/cpu${cpuPath}/cpu.cfs_period_us`),
    ]);
    return { memory, cpu: `${quota} ${period}` };
  }
  const unified = lines.find(([h]) => h === "0")?.[2];
  if (unified === undefined) throw new Error(`pid ${pid} is in no memory/cpu cgroup`);
  const dir = `/sys/fs/cgroup${unified}`;
  return { memory: (await readFile(`${dir}/memory.max`, "utf8")).trim(), cpu: (await readFile(`${dir}/cpu.max`, "utf8")).trim() };
}

describe("--restart", () => {
  it("always: a container that keeps exiting is restarted with a growing wait, and counted", async () => {
    const r = await stack.cli(["run", "-d", "--name", "flappy", "--restart", "always", "--rootfs", stack.rootfs, "/bin/sh", "-c", "exit 3"]);
    expect(r.code, r.stderr).toBe(0);
    const c = await until("flappy", (x) => x.RestartCount >= 3);
    expect(c.HostConfig.RestartPolicy).toEqual({ Name: "always", MaximumRetryCount: 0 });
    // Docker shows a container waiting for its restart as running and restarting, with its last exit code.
    const waiting = await until("flappy", (x) => x.State.Status === "restarting");
    expect(waiting.State).toMatchObject({ Running: true, Restarting: true, ExitCode: 3 });
    const ps = await stack.cli(["ps", "-a", "--filter", "name=flappy"]);
    expect(ps.stdout).toMatch(/Restarting \(3\)|Up /);
  });

  it("a stop by the user ends the policy, and a start by the user begins the count again", async () => {
    const stop = await stack.cli(["stop", "flappy"]);
    expect(stop.code, stop.stderr).toBe(0);
    const stopped = await until("flappy", (x) => x.State.Status === "exited");
    const count = stopped.RestartCount;
    await new Promise((r) => setTimeout(r, 1500));
    const later = await inspect("flappy");
    expect(later.State.Status).toBe("exited");
    expect(later.RestartCount).toBe(count);
    expect((await stack.cli(["start", "flappy"])).code).toBe(0);
    // The user's start resets the count; the policy then counts its own restarts from zero.
    const restarted = await until("flappy", (x) => x.RestartCount >= 1 && x.RestartCount < count + 1);
    expect(restarted.RestartCount).toBeLessThanOrEqual(count);
    await stack.cli(["rm", "-f", "flappy"]);
  });

  it("a kill by the user is a manual stop too: a long-running `always` container stays down", async () => {
    const r = await stack.cli(["run", "-d", "--name", "killed", "--restart", "always", "--rootfs", stack.rootfs, "/bin/sleep", "3600"]);
    expect(r.code, r.stderr).toBe(0);
    expect((await stack.cli(["kill", "killed"])).code).toBe(0);
    await until("killed", (x) => x.State.Status === "exited");
    await new Promise((r) => setTimeout(r, 1000));
    expect(await inspect("killed")).toMatchObject({ State: { Status: "exited", ExitCode: 137 }, RestartCount: 0 });
  });

  it("on-failure:2 restarts two failures and then leaves the container exited; a clean exit is never restarted", async () => {
    const r = await stack.cli(["run", "-d", "--name", "twice", "--restart", "on-failure:2", "--rootfs", stack.rootfs, "/bin/sh", "-c", "exit 4"]);
    expect(r.code, r.stderr).toBe(0);
    const done = await until("twice", (x) => x.RestartCount === 2 && x.State.Status === "exited");
    expect(done.State.ExitCode).toBe(4);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await inspect("twice")).toMatchObject({ RestartCount: 2, State: { Status: "exited" } });
    const clean = await stack.cli(["run", "-d", "--name", "clean", "--restart", "on-failure", "--rootfs", stack.rootfs, "/bin/true"]);
    expect(clean.code, clean.stderr).toBe(0);
    await until("clean", (x) => x.State.Status === "exited");
    await new Promise((r) => setTimeout(r, 700));
    expect(await inspect("clean")).toMatchObject({ RestartCount: 0, State: { Status: "exited", ExitCode: 0 } });
  });
});

describe("--memory and --cpus", () => {
  it("reach the container's cgroup, and inspect shows them as Docker does", async () => {
    const r = await stack.cli(["run", "-d", "--name", "limited", "-m", "64m", "--cpus", "0.5", "--rootfs", stack.rootfs, "/bin/sleep", "3600"]);
    expect(r.code, r.stderr).toBe(0);
    const c = await inspect("limited");
    expect(c.HostConfig).toMatchObject({ Memory: 64 * 1024 * 1024, NanoCpus: 500_000_000 });
    expect(await cgroupLimits(c.State.Pid)).toEqual({ memory: String(64 * 1024 * 1024), cpu: "50000 100000" });
    await stack.cli(["rm", "-f", "limited"]);
  });

  it("a container over its memory limit is OOM-killed, and shows it as Docker does (137, OOMKilled)", async () => {
    const r = await stack.cli([
      "run", "--name", "hungry", "-m", "16m", "--shm-size", "256m", "--rootfs", stack.rootfs,
      "/bin/sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=200",
    ]);
    expect(r.code, r.stderr).toBe(137);
    expect((await inspect("hungry")).State).toMatchObject({ Status: "exited", ExitCode: 137, OOMKilled: true });
  });
});

describe("bad values", () => {
  it.each([
    [["--memory", "lots"], "invalid memory limit: lots"],
    [["--memory", "-1"], "invalid memory limit: -1"],
    [["-m", "4m"], "Minimum memory limit allowed is 6MB"],
    [["--cpus", "abc"], "invalid cpus: abc"],
    [["--cpus", "-1"], "invalid cpus: -1"],
    [["--restart", "sometimes"], "invalid restart policy 'sometimes'"],
    [["--restart", "on-failure:-1"], "maximum retry count cannot be negative"],
    [["--restart", "always:3"], "maximum retry count cannot be used with restart policy 'always'"],
    [["--restart", "always", "--rm"], "conflicting options: cannot specify both --restart and --rm"],
  ])("run %j is refused with exit 125 and nothing is recorded", async (flags, message) => {
    const r = await stack.cli(["run", "-d", "--name", "refused", ...flags, "--rootfs", stack.rootfs, "/bin/true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const ps = await stack.cli(["ps", "-a", "-q", "--filter", "name=refused"]);
    expect(ps.stdout).toBe("");
  });

  it("over gRPC, a bad --memory, --cpus or --restart is INVALID_ARGUMENT", async () => {
    // The e2e client keeps the protos' field names (snake_case).
    for (const host_config of [{ memory: "-1" }, { cpus: "lots" }, { restart_policy: "sometimes" }]) {
      await expect(
        stack.call("Containers", "CreateContainer", { name: "refused-grpc", rootfs: stack.rootfs, args: ["/bin/true"], host_config }),
      ).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT });
    }
    expect((await stack.cli(["ps", "-a", "-q", "--filter", "name=refused-grpc"])).stdout).toBe("");
  });
});
