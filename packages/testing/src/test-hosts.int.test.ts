/**
 * startTestHosts on this machine, with a stand-in agent (a Node script serving
 * SHOAL_METRICS_PORT and holding a TCP connection to SHOAL_NATS_URL), so the library is
 * checked without the services: each host reaches the private NATS through its veth and
 * nothing else, a cut host cannot reach it while the others can, heal undoes it, agents
 * are killed and restarted, and teardown leaves nothing.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestHosts } from "./test-hosts";
import type { TestHost, TestHosts } from "./test-hosts";

const execFileAsync = promisify(execFile);

// Serves /metrics on every address of its network namespace, and keeps a connection to NATS open.
const STAND_IN_AGENT = `
const http = require("node:http");
const net = require("node:net");
const url = new URL(process.env.SHOAL_NATS_URL);
net.connect(Number(url.port), url.hostname).on("error", () => {});
http.createServer((_, res) => res.end("up " + process.env.SHOAL_HOST + "\\n")).listen(Number(process.env.SHOAL_METRICS_PORT));
`;

const logDir = join(tmpdir(), `shoal-test-hosts-${process.pid}`);
let fleet: TestHosts;
beforeAll(async () => {
  fleet = await startTestHosts({ count: 2, name: `t${randomBytes(3).toString("hex")}`, logDir });
  await fleet.startAgents({ command: [process.execPath, "-e", STAND_IN_AGENT], env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
});
afterAll(async () => {
  await fleet?.teardown();
  await rm(logDir, { recursive: true, force: true });
});

/** Whether a TCP connection from inside the host's network namespace to `host:port` opens within 2 s. */
async function reaches(h: TestHost, address: string, port: number): Promise<boolean> {
  try {
    await execFileAsync("nsenter", [`--net=/run/netns/${h.netns}`, "--", "timeout", "2", "bash", "-c", `exec 3<>/dev/tcp/${address}/${port}`]);
    return true;
  } catch {
    return false;
  }
}

describe("startTestHosts", () => {
  it("gives each host its own address, containerd, directories and agent, reaching only the private NATS", async () => {
    const [h1, h2] = fleet.hosts as [TestHost, TestHost];
    expect(new Set(fleet.hosts.map((h) => h.address)).size).toBe(2);
    expect(h1.containerd.socket).not.toBe(h2.containerd.socket);
    expect(h1.stateRoot).not.toBe(h2.stateRoot);
    expect(h1.cgroupPrefix).toBe(`shoal-${h1.name}`);
    const nats = new URL(fleet.natsUrl);
    expect(nats.hostname).toBe(fleet.gateway);
    for (const h of fleet.hosts) {
      expect(await reaches(h, fleet.gateway, Number(nats.port)), h.name).toBe(true);
      // The machine's own loopback (where the shared NATS and Postgres listen) is another namespace's.
      expect(await reaches(h, "127.0.0.1", 5432), h.name).toBe(false);
      expect(await (await fetch(h.metricsUrl)).text()).toBe(`up ${h.name}\n`);
      // The agent runs in the host's network namespace and the machine's mount namespace.
      const pid = fleet.agentPid(h)!;
      const [net, mnt] = await Promise.all([execFileAsync("readlink", [`/proc/${pid}/ns/net`]), execFileAsync("readlink", [`/proc/${pid}/ns/mnt`])]);
      expect(net.stdout).not.toBe((await execFileAsync("readlink", ["/proc/self/ns/net"])).stdout);
      expect(mnt.stdout).toBe((await execFileAsync("readlink", ["/proc/self/ns/mnt"])).stdout);
    }
  });

  it("cuts one host off the network and heals it, the other untouched", async () => {
    const [h1, h2] = fleet.hosts as [TestHost, TestHost];
    const port = Number(new URL(fleet.natsUrl).port);
    await fleet.cut(h1);
    expect(fleet.isCut(h1)).toBe(true);
    expect(await reaches(h1, fleet.gateway, port)).toBe(false);
    expect(await reaches(h2, fleet.gateway, port)).toBe(true);
    expect(fleet.agentPid(h1)).toBeDefined();
    await fleet.heal(h1);
    expect(await reaches(h1, fleet.gateway, port)).toBe(true);
  });

  it("kills and restarts an agent", async () => {
    const h = fleet.hosts[1]!;
    const before = fleet.agentPid(h)!;
    await fleet.killAgent(h);
    expect(fleet.agentPid(h)).toBeUndefined();
    await fleet.restartAgent(h);
    expect(fleet.agentPid(h)).toBeDefined();
    expect(fleet.agentPid(h)).not.toBe(before);
  });

  it("names a missing prerequisite", async () => {
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      await expect(startTestHosts({ count: 1, name: "tmissing", logDir })).rejects.toThrow(/prerequisite missing: `ip` not found on PATH: install iproute2/);
    } finally {
      process.env.PATH = path;
    }
  });

  it("tears down leaving nothing", async () => {
    await fleet.teardown();
    expect(await fleet.leftovers()).toEqual([]);
  });
});

describe("a run killed before its teardown", () => {
  it("is swept by the next startTestHosts: its agents, containerd, NATS, namespaces, veths and directories", async () => {
    // A child process makes one host with a running agent, prints it, and is killed.
    const here = dirname(fileURLToPath(import.meta.url));
    const killedName = `tkilled${randomBytes(2).toString("hex")}`;
    const script = `
      import { startTestHosts } from ${JSON.stringify(join(here, "test-hosts.ts"))};
      const f = await startTestHosts({ count: 1, name: "${killedName}", logDir: ${JSON.stringify(logDir)} });
      await f.startAgents({ command: [process.execPath, "-e", ${JSON.stringify(STAND_IN_AGENT)}], env: { PATH: process.env.PATH } });
      const h = f.hosts[0];
      console.log(JSON.stringify({ netns: h.netns, veth: h.veth, bridge: f.bridge, stateRoot: h.stateRoot, dirs: h.containerd.directories, agent: f.agentPid(h), socket: h.containerd.socket }));
      setInterval(() => {}, 60_000);`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: join(here, "../../.."), stdio: ["ignore", "pipe", "inherit"] });
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("\n")) resolve(out.split("\n")[0]!);
      });
      child.once("exit", (code) => reject(new Error(`child exited with ${code} before its hosts were up`)));
    });
    const made = JSON.parse(line) as { netns: string; veth: string; bridge: string; stateRoot: string; dirs: string[]; agent: number; socket: string };
    const gone = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await gone;
    expect((await execFileAsync("ip", ["netns", "list"])).stdout).toContain(made.netns);
    expect(existsSync(`/proc/${made.agent}`)).toBe(true);

    const next = await startTestHosts({ count: 1, name: `tnext${randomBytes(2).toString("hex")}`, logDir });
    await next.teardown();
    expect((await execFileAsync("ip", ["netns", "list"])).stdout).not.toContain(made.netns);
    const links = (await execFileAsync("ip", ["-o", "link", "show"])).stdout;
    expect(links).not.toContain(made.veth);
    expect(links).not.toContain(made.bridge);
    for (const d of [made.stateRoot, ...made.dirs]) expect(existsSync(d), d).toBe(false);
    // Gone, or a zombie of the killed child awaiting its reaper.
    const state = await execFileAsync("ps", ["-o", "stat=", "-p", String(made.agent)]).then((r) => r.stdout.trim(), () => "");
    expect(state === "" || state.startsWith("Z")).toBe(true);
    const { stdout: procs } = await execFileAsync("ps", ["-eo", "args"]);
    expect(procs).not.toContain(made.socket);
    expect(procs).not.toContain(`${killedName}-nats`);
    expect(existsSync(`/var/lib/shoal-test/${killedName}-nats`)).toBe(false);
  });
});
