import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeApi } from "./fake-api-server";
import type { FakeApi } from "./fake-api-server";

// The real `shoal` (dist/shoal, the executable build.mjs compiles) run as a process against
// a grpc-js server implementing proto/shoal/v1, so parsing, the embedded descriptors, the
// wire encoding under Bun's node:http2, output and exit codes are all the shipped ones.

const cliDir = fileURLToPath(new URL("..", import.meta.url));
const shoalBin = join(cliDir, "dist/shoal");

let api: FakeApi;
let tmp: string;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function shoal(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(shoalBin, args, { env: { PATH: process.env.PATH ?? "", SHOAL_ADDR: api.addr, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function lastCall(method: string) {
  return api.calls.filter((c) => c.method === method).at(-1)?.request;
}

beforeAll(async () => {
  await promisify(execFile)(process.execPath, [join(cliDir, "build.mjs")]);
  api = await startFakeApi();
  tmp = await mkdtemp(join(tmpdir(), "shoal-cli-"));
});

afterAll(async () => {
  await api?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("shoal run", () => {
  it("-d creates, starts and prints the id; --rm is sent as auto_remove", async () => {
    const r = await shoal(["run", "-d", "--rm", "--name", "web", "--ipc", "shareable", "--shm-size", "128m", "--rootfs", "/srv/busybox", "sleep", "60"]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(lastCall("CreateContainer")).toMatchObject({
      name: "web",
      rootfs: "/srv/busybox",
      image: "",
      args: ["sleep", "60"],
      host_config: { ipc_mode: "shareable", shm_size: "128m", auto_remove: true },
    });
    expect(lastCall("StartContainer")).toMatchObject({ container: id });
  });

  it("without -d prints the container's output and exits with its code", async () => {
    const r = await shoal(["run", "-e", "EXIT=3", "--rootfs", "/srv/busybox", "sh", "-c", "echo hi; exit 3"]);
    expect(r.stdout).toBe("ran: sh -c echo hi; exit 3\n");
    expect(r.code).toBe(3);
    // As docker run: the wait for the next exit goes out before the start, so a quick exit is never missed.
    const id = lastCall("StartContainer")!.container as string;
    const order = api.calls.filter((c) => c.request.container === id).map((c) => `${c.method}${c.request.condition ? `(${c.request.condition})` : ""}`);
    expect(order.slice(0, 2)).toEqual(["WaitContainer(next-exit)", "StartContainer"]);
    const ok = await shoal(["run", "--rootfs", "/srv/busybox", "true"]);
    expect(ok).toMatchObject({ code: 0, stdout: "ran: true\n" });
  });

  it("a refusal exits 125 with the daemon's message and no stack", async () => {
    const bad = await shoal(["run", "--ipc", "bogus", "--rootfs", "/srv/busybox", "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toBe('shoal: Error response from daemon: invalid IPC mode "bogus"\n');
    expect(bad.stdout).toBe("");
    const taken = await shoal(["run", "-d", "--name", "taken", "--rootfs", "/srv/busybox", "true"]);
    expect(taken.code).toBe(125);
    expect(taken.stderr).toBe('shoal: Error response from daemon: Conflict. The container name "/taken" is already in use\n');
  });

  it("a failed start passes 126 and 127 through and is 125 otherwise", async () => {
    const missing = await shoal(["run", "--rootfs", "/srv/busybox", "missing-binary"]);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain("executable file not found");
    expect((await shoal(["run", "-d", "--rootfs", "/srv/busybox", "not-executable"])).code).toBe(126);
    const exploded = await shoal(["run", "--rootfs", "/srv/busybox", "explode"]);
    expect(exploded.code).toBe(125);
    expect(exploded.stderr).toBe("shoal: Error response from daemon: runtime failed: the shim exploded\n");
  });

  it("a bad command line exits 125 with a usage hint and calls nothing", async () => {
    const before = api.calls.length;
    const r = await shoal(["run", "--shm", "1g", "busybox"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe("shoal: unknown flag: --shm\nSee 'shoal run --help'.\n");
    expect(api.calls.length).toBe(before);
  });

  it("reaches an api on a unix socket", async () => {
    const socketApi = await startFakeApi(`unix:${join(tmp, "api.sock")}`);
    try {
      const r = await shoal(["--addr", socketApi.addr, "run", "-d", "--rootfs", "/srv/busybox", "true"]);
      expect(r.code).toBe(0);
      expect(socketApi.containers.has(r.stdout.trim())).toBe(true);
    } finally {
      await socketApi.stop();
    }
  });

  it("the launcher bin/shoal runs the executable, also through a symlink", async () => {
    const link = join(tmp, "shoal");
    await symlink(join(cliDir, "bin/shoal"), link);
    const r = await promisify(execFile)(link, ["ps", "-q"], { env: { PATH: process.env.PATH ?? "", SHOAL_ADDR: api.addr } });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe((await shoal(["ps", "-q"])).stdout);
  });

  it("an unreachable api exits 1 (125 from run) and says where it looked", async () => {
    expect((await shoal(["run", "-d", "--rootfs", "/srv/busybox", "true"], { SHOAL_ADDR: "127.0.0.1:1" })).code).toBe(125);
    const r = await shoal(["ps"], { SHOAL_ADDR: "127.0.0.1:1" });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("shoal: Cannot connect to the Shoal api at 127.0.0.1:1 (ECONNREFUSED). Is it running?\n");
  });
});

describe("queries", () => {
  it("inspect prints a docker-shaped JSON array; a missing container is 1 after the found ones", async () => {
    const id = (await shoal(["create", "--name", "owner", "--ipc", "shareable", "--rootfs", "/srv/busybox", "top"])).stdout.trim();
    const r = await shoal(["inspect", "owner", "nope"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("shoal: Error response from daemon: No such container: nope\n");
    const out = JSON.parse(r.stdout) as Array<Record<string, any>>;
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({
      Id: id,
      Name: "/owner",
      Path: "top",
      Args: [],
      State: { Status: "created", Running: false, Pid: 0, ExitCode: 0, StartedAt: "0001-01-01T00:00:00Z" },
      HostConfig: { IpcMode: "shareable", ShmSize: 67108864, AutoRemove: false, Runtime: "runc" },
      Host: "h1",
      IpcGroup: { Owner: id, Members: [], Role: "owner", ShmSize: 67108864, ShmMountPath: `/var/lib/shoal/containers/${id}/mounts/shm` },
    });
  });

  it("ps --format json prints one docker-keyed object per line; -q prints short ids; the table has headers", async () => {
    await shoal(["run", "-d", "--name", "listed", "--rootfs", "/srv/busybox", "sleep", "1"]);
    const json = await shoal(["ps", "-a", "--format", "json"]);
    expect(json.code).toBe(0);
    const rows = json.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.length).toBe(api.containers.size);
    expect(rows.find((r) => r.Names === "listed")).toMatchObject({ State: "running", Image: "/srv/busybox", Host: "h1", Command: '"sleep 1"' });
    expect(lastCall("ListContainers")).toMatchObject({ all: true });

    const quiet = await shoal(["ps", "-q", "--filter", "name=listed"]);
    expect(lastCall("ListContainers")).toMatchObject({ all: false, filters: { name: "listed" } });
    for (const line of quiet.stdout.trim().split("\n")) expect(line).toMatch(/^[0-9a-f]{12}$/);

    const table = await shoal(["ps"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +IPC +HOST +NAMES$/);
  });

  it("inspect -f and ps --format take docker-style templates, one line per container", async () => {
    const id = (await shoal(["run", "-d", "--name", "tpl", "--ipc", "shareable", "--rootfs", "/srv/busybox", "top"])).stdout.trim();
    const r = await shoal(["inspect", "-f", "{{.State.Pid}} {{.HostConfig.IpcMode}} {{.IpcGroup.ShmMountPath}}", "tpl"]);
    expect(r).toEqual({ code: 0, stdout: `4242 shareable /var/lib/shoal/containers/${id}/mounts/shm\n`, stderr: "" });
    const ps = await shoal(["ps", "--filter", "name=tpl", "--format", "{{.ID}} {{.Names}}"]);
    expect(ps.stdout.split("\n")).toContain(`${id.slice(0, 12)} tpl`);
    const bad = await shoal(["inspect", "-f", "{{.State.Nope}}", "tpl"]);
    expect(bad).toMatchObject({ code: 1, stderr: 'shoal: template: {{.State.Nope}}: no field "Nope"\n' });
  });

  it("hosts prints a table and JSON lines", async () => {
    const table = await shoal(["hosts"]);
    // The fake api reports no CPUs for h1: "-", as for a host whose agent reported none.
    expect(table.stdout).toMatch(/^NAME +STATUS +CONTAINERS +CPUS +CPUS RESERVED +MEMORY +MEMORY RESERVED +LAST HEARTBEAT\nh1 +ready +\d+ +- +0 +8GiB +0B +/);
    const json = JSON.parse((await shoal(["hosts", "--format", "json"])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ Name: "h1", Status: "ready", MemoryBytes: 2 ** 33, Capabilities: { cgroup: 1 } });
  });
});

describe("lifecycle", () => {
  it("start -a, stop -t, kill -s, pause, rm -f, wait, logs and exec reach the api and report as docker does", async () => {
    const id = (await shoal(["create", "--name", "life", "-e", "EXIT=4", "--rootfs", "/srv/busybox", "work"])).stdout.trim();
    const attached = await shoal(["start", "-a", "life"]);
    expect(attached).toMatchObject({ code: 4, stdout: "ran: work\n" });

    expect(await shoal(["stop", "-t", "3", "life"])).toMatchObject({ code: 0, stdout: "life\n" });
    expect(lastCall("StopContainer")).toMatchObject({ container: "life", timeout_seconds: 3 });
    await shoal(["stop", "life"]);
    expect(lastCall("StopContainer")).not.toHaveProperty("timeout_seconds");

    expect((await shoal(["kill", "-s", "TERM", "life"])).code).toBe(0);
    expect(lastCall("KillContainer")).toEqual({ container: "life", signal: "TERM" });

    const paused = await shoal(["pause", "life"]);
    expect(paused).toMatchObject({ code: 1, stderr: "shoal: Error response from daemon: container life is not running\n" });

    expect(await shoal(["wait", id])).toMatchObject({ code: 0, stdout: "4\n" });
    expect(await shoal(["logs", "life"])).toMatchObject({ code: 0, stdout: "ran: work\n" });
    expect(lastCall("ContainerLogs")).toEqual({ container: "life", tail: 0 });
    await shoal(["logs", "--tail", "2", "life"]);
    expect(lastCall("ContainerLogs")).toEqual({ container: "life", tail: 2 });

    const exec = await shoal(["exec", "-e", "X=1", "life", "ls", "-la", "/dev/shm"]);
    expect(exec).toEqual({ code: 7, stdout: "out: ls -la /dev/shm\n", stderr: "err: oops\n" });
    expect(lastCall("ExecInContainer")).toMatchObject({ container: "life", args: ["ls", "-la", "/dev/shm"], env: ["X=1"] });

    const removed = await shoal(["rm", "-f", "life", "ghost"]);
    expect(removed.code).toBe(1);
    expect(removed.stdout).toBe("life\n");
    expect(removed.stderr).toBe("shoal: Error response from daemon: No such container: ghost\n");
    expect(lastCall("RemoveContainer")).toEqual({ container: "ghost", force: true });
  });
});

describe("shoal events", () => {
  it("prints one line per event with its cursor and resumes after a printed cursor", async () => {
    const until = new Date(Date.now() + 3_600_000).toISOString();
    const all = await shoal(["events", "--until", until, "--filter", "type=ContainerStarted", "--filter", "type=ContainerExited"]);
    expect(all.code).toBe(0);
    const lines = all.stdout.trim().split("\n");
    expect(lines).toHaveLength(api.events.length);
    expect(lines[0]).toMatch(/^2025-11-23T12:13:20Z ContainerCreated container-c{64} \(version=1, cursor=101\)$/);
    expect(lastCall("Subscribe")).toMatchObject({
      since_cursor: "",
      filters: [{ key: "type", values: ["ContainerStarted", "ContainerExited"] }],
    });

    const cursor = /cursor=(\d+)\)$/.exec(lines[2]!)![1]!;
    const resumed = await shoal(["events", "--until", until, "--cursor", cursor]);
    expect(resumed.stdout.trim().split("\n")).toEqual(lines.slice(3));
    expect(lastCall("Subscribe")).toMatchObject({ since_cursor: cursor });

    const json = await shoal(["events", "--until", until, "--cursor", "104", "--format", "json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ cursor: "105", type: "ContainerExited", data: { n: 4 }, streamVersion: 5 });
  });

  it("follows: lines arrive while the stream stays open", async () => {
    const child = spawn(shoalBin, ["events", "--cursor", "103"], { env: { PATH: process.env.PATH ?? "", SHOAL_ADDR: api.addr } });
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    let stdout = "";
    await new Promise<void>((resolve) => {
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        if (stdout.split("\n").length > 2) resolve();
      });
    });
    expect(stdout.trim().split("\n").map((l) => /cursor=(\d+)/.exec(l)?.[1])).toEqual(["104", "105"]);
    child.kill("SIGINT");
    await closed;
  });

  it("a reader that goes away ends a following `events` quietly (exit 0, no EPIPE stack)", async () => {
    const child = spawn(shoalBin, ["events", "--cursor", "104"], { env: { PATH: process.env.PATH ?? "", SHOAL_ADDR: api.addr } });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    child.stdout.destroy();
    api.publish("ContainerRemoved");
    expect(await closed).toBe(0);
    expect(stderr).toBe("");
  });

  it("a cursor older than what is kept is 1 with the api's OUT_OF_RANGE message, never a silent skip", async () => {
    const r = await shoal(["events", "--cursor", "7"]);
    expect(r).toEqual({ code: 1, stdout: "", stderr: "shoal: Error response from daemon: cursor 7 is older than the oldest kept event (101)\n" });
  });

  it("--since is sent as a timestamp; a bad one is a usage error (125) before any call", async () => {
    await shoal(["events", "--since", "2026-01-02T03:04:05.5Z", "--until", "2026-01-02T04:00:00Z"]);
    expect(lastCall("Subscribe")).toMatchObject({
      since_time: { seconds: String(Date.parse("2026-01-02T03:04:05Z") / 1000), nanos: 500_000_000 },
      until_time: { seconds: String(Date.parse("2026-01-02T04:00:00Z") / 1000), nanos: 0 },
    });
    const calls = api.calls.length;
    const r = await shoal(["events", "--since", "not-a-time"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("invalid value");
    expect(api.calls.length).toBe(calls);
  });
});

describe("shoal config", () => {
  it("show prints daemon.json; set changes keys and prints the version; an invalid change is 125 and changes nothing", async () => {
    const shown = await shoal(["config", "show"]);
    expect(JSON.parse(shown.stdout)).toEqual(api.config.json);
    const before = api.config.version;

    const set = await shoal(["config", "set", "experimental=true", "default-ipc-mode=shareable"]);
    expect(set).toMatchObject({ code: 0, stdout: `config version ${before + 1}\n` });
    expect(lastCall("SetConfig")).toEqual({ assignments: ["experimental=true", "default-ipc-mode=shareable"] });
    expect(api.config.json).toMatchObject({ experimental: true, "default-ipc-mode": "shareable" });

    expect((await shoal(["config", "set", "experimental=true"])).stdout).toBe(`config unchanged (version ${before + 1})\n`);

    const bad = await shoal(["config", "set", "bogus=1"]);
    expect(bad).toMatchObject({ code: 1, stderr: 'shoal: Error response from daemon: unknown config key "bogus"\n' });
    expect(api.config.version).toBe(before + 1);

    const json = JSON.parse((await shoal(["config", "show", "--format", "json"])).stdout) as { version: number; config: unknown };
    expect(json).toEqual({ version: before + 1, config: api.config.json });
  });

  it("reload --file sends the file whole; a missing file is 125 before any call", async () => {
    const file = join(tmp, "daemon.json");
    await writeFile(file, JSON.stringify({ "default-ipc-mode": "private", experimental: false }));
    const r = await shoal(["config", "reload", "--file", file]);
    expect(r.code).toBe(0);
    expect(JSON.parse(lastCall("ReloadConfig")!.config_json as string)).toEqual({ "default-ipc-mode": "private", experimental: false });

    const calls = api.calls.length;
    const missing = await shoal(["config", "reload", "--file", join(tmp, "nope.json")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("cannot read");
    expect(api.calls.length).toBe(calls);
  });
});

describe("no api needed", () => {
  it("--version and --help", async () => {
    expect(await shoal(["--version"], { SHOAL_ADDR: "127.0.0.1:1" })).toEqual({ code: 0, stdout: "shoal version 0.0.0\n", stderr: "" });
    const help = await shoal(["run", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage:  shoal run [OPTIONS] (--rootfs DIR | IMAGE)");
  });
});
