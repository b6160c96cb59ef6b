/**
 * `npm start` / `npm stop` (scripts/start.sh, scripts/stop.sh) as a user runs them, on
 * private paths and ports so a stack already running on this machine is not touched: start
 * returns once the stack is healthy, a second start says so and exits 0, the compiled
 * `shoal` is on the link, every service serves /metrics, and stop leaves no service, no
 * containerd it started, no mount under the state root and no link behind.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectTestNats, createTestDatabase, ensureBusyboxRootfs } from "@shoal/testing";
import type { TestDatabase, TestNats } from "@shoal/testing";
import { REPO_ROOT, cleanupHostState, freePorts, mountPoints } from "./stack";
import type { CliResult } from "./stack";

const execFileAsync = promisify(execFile);
const id = randomBytes(4).toString("hex");
const host = `ls${id}`;
const runDir = `/run/shoal-test/ls-${id}`;
const stateRoot = `/var/lib/shoal-test/ls-${id}`;
const logDir = `${runDir}/log`;
const binLink = `${runDir}/bin/shoal`;

let database: TestDatabase;
let nats: TestNats;
let env: Record<string, string>;
let rootfs: string;

function script(name: "start" | "stop"): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [join(REPO_ROOT, `scripts/${name}.sh`)], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function shoal(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binLink, args, { env: { PATH: env.PATH!, SHOAL_ADDR: env.SHOAL_API_ADDR! }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function pids(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const name of ["api", "scheduler", "mount-manager", "runtime-agent", "containerd"]) {
    const text = await readFile(`${runDir}/${name}.pid`, "utf8").catch(() => "");
    if (text.trim() !== "") out[name] = Number(text.trim());
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let started: Record<string, number> = {};

beforeAll(async () => {
  rootfs = await ensureBusyboxRootfs();
  database = await createTestDatabase();
  nats = await connectTestNats();
  await mkdir(`${runDir}/bin`, { recursive: true });
  const [apiPort, ...ports] = await freePorts(5);
  env = {
    PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: process.env.HOME ?? "/root",
    SHOAL_RUN_DIR: runDir,
    SHOAL_STATE_ROOT: stateRoot,
    SHOAL_LOG_DIR: logDir,
    SHOAL_DATABASE_URL: database.url,
    SHOAL_SUBJECT_PREFIX: nats.prefix,
    SHOAL_API_ADDR: `127.0.0.1:${apiPort}`,
    SHOAL_METRICS_PORTS: ports.join(" "),
    SHOAL_HOST: host,
    SHOAL_BIN_LINK: binLink,
  };
});

afterAll(async () => {
  // Whatever a failed test left: stop again (idempotent), then kill by pid and clean up.
  if (env !== undefined) await script("stop").catch(() => undefined);
  for (const pid of Object.values({ ...started, ...(await pids()) })) {
    if (alive(pid)) process.kill(pid, "SIGKILL");
  }
  await cleanupHostState({ stateRoot, runDir, host });
  await nats?.cleanup();
  await database?.drop();
});

describe("npm start / npm stop", () => {
  it("start brings the stack up healthy, with shoal on the link and /metrics on every service", async () => {
    const r = await script("start");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`up: api ${env.SHOAL_API_ADDR}`);
    started = await pids();
    for (const s of ["api", "scheduler", "mount-manager", "runtime-agent"]) expect(alive(started[s]!), s).toBe(true);

    const health = await execFileAsync(process.execPath, [join(REPO_ROOT, "scripts/grpc-health.mjs"), env.SHOAL_API_ADDR!]).then(
      () => 0,
      () => 1,
    );
    expect(health).toBe(0);
    // The link is to the compiled CLI itself, not to a launcher script.
    expect(await readlink(binLink)).toBe(join(REPO_ROOT, "services/cli/dist/shoal"));
    const hosts = await shoal(["hosts", "--format", "json"]);
    expect(hosts.code, hosts.stderr).toBe(0);
    expect(hosts.stdout).toContain(host);
    expect(hosts.stdout).toContain("ready");

    for (const port of env.SHOAL_METRICS_PORTS!.split(" ")) {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/^shoal_/m);
    }
    for (const s of ["api", "scheduler", "mount-manager", "runtime-agent"]) {
      const first = (await readFile(`${logDir}/${s}.log`, "utf8")).split("\n")[0]!;
      expect(() => JSON.parse(first), `${s} logs JSON`).not.toThrow();
    }
  });

  it("a second start while up says so, exits 0 and starts nothing", async () => {
    const r = await script("start");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/already running/);
    expect(await pids()).toEqual(started);
  });

  it("runs containers: shoal run through the linked CLI", async () => {
    const r = await shoal(["run", "--rm", "--rootfs", rootfs, "/bin/echo", "hello from npm start"]);
    expect(r.code, r.stderr).toBe(0);
    const owner = await shoal(["run", "-d", "--name", "kept", "--ipc", "shareable", "--rootfs", rootfs, "/bin/sleep", "3600"]);
    expect(owner.code, owner.stderr).toBe(0);
    const shm = `${stateRoot}/containers/${owner.stdout.trim()}/mounts/shm`;
    expect(await mountPoints()).toContain(shm);
  });

  it("metrics carry no container ids, whatever has run", async () => {
    for (const port of env.SHOAL_METRICS_PORTS!.split(" ")) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text.match(/[0-9a-f]{64}/g), `port ${port}`).toBeNull();
      const names = text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).map((l) => l.split(/[{ ]/)[0]!);
      expect(names.some((n) => n.startsWith("shoal_")), `port ${port}`).toBe(true);
    }
  });

  it("stop stops the containers, the services and its containerd, and leaves no mount and no link", async () => {
    const r = await script("stop");
    expect(r.code, r.stderr).toBe(0);
    for (const [name, pid] of Object.entries(started)) expect(alive(pid), `${name} (pid ${pid}) still runs`).toBe(false);
    expect((await mountPoints()).filter((m) => m === stateRoot || m.startsWith(`${stateRoot}/`))).toEqual([]);
    expect(existsSync(binLink)).toBe(false);
    expect(await pids()).toEqual({});
    // A second stop finds nothing to do.
    const again = await script("stop");
    expect(again.code, again.stderr).toBe(0);
  });
});


