/**
 * Hosts for tests: N Shoal hosts on one machine, each cut off from the others by its own
 * network namespace, and a private NATS they reach only through their veth.
 *
 * Vocabulary:
 * - bridge: `shb<tag>` in the root network namespace, address `<subnet>.1/24` (the
 *   gateway); the private `nats-server -js` listens there and nowhere else.
 * - host: network namespace `shoal-<tag>-h<i>` holding `eth0` (`<subnet>.<i+1>/24`), the
 *   peer of the root-side veth `shv<tag>h<i>`, which is a port of the bridge; its own
 *   containerd (in the root namespaces: only its unix socket is used), runc root
 *   (`<runDir>/runc`), cgroup prefix (`shoal-<host>`), state root and run directory; and
 *   one runtime agent process inside the network namespace.
 * - cut: the root-side veth down. The agent's NATS connection goes silent (no reset: it
 *   just stops hearing and being heard), while its containerd, shims and containers, which
 *   live in the root namespaces, keep running. heal: the veth up again.
 *
 * Flow: `startTestHosts` checks the prerequisites, makes the bridge, starts the private
 * NATS (its URL is `natsUrl`: give it to the control plane), then each host's namespace,
 * veth, containerd and directories. Agents start only at `startAgents()`, so the caller can
 * start its control plane first. `teardown()` stops everything and removes every trace;
 * it throws listing whatever it could not remove. Until then a record of the hosts sits in
 * `/run/shoal-test/test-hosts-<tag>.json`: a run killed before its teardown is swept by the
 * next `startTestHosts` (any run's), which removes the hosts of every record whose owner
 * process is gone.
 *
 * Why the agent runs under `nsenter --net=…` and not `ip netns exec`: `ip netns exec`
 * also gives the process a new mount namespace (slave of `/`, with a fresh /sys that has no
 * cgroup mounts). The agent's shm tmpfs mounts would then stay invisible to runc, which
 * containerd spawns in the root mount namespace, and the agent could not read or clean
 * its cgroups. `nsenter --net` changes the network namespace only — the one thing a host
 * must not share here.
 */
import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, constants, existsSync, openSync, readFileSync } from "node:fs";
import { access, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { agentCgroupParents, cleanupAgentState, mountPoints } from "./agent-state";
import type { AgentStatePaths } from "./agent-state";
import { startTestContainerd } from "./containerd";
import type { TestContainerd } from "./containerd";

const execFileAsync = promisify(execFile);

/** The port every agent serves `/metrics` on, inside its own network namespace. */
const AGENT_METRICS_PORT = 9423;

export interface TestHost {
  /** The host's name: the agent's SHOAL_HOST (`<name>-h<i>`). */
  readonly name: string;
  /** The network namespace (`ip netns` name; its file is `/run/netns/<netns>`). */
  readonly netns: string;
  /** The host's IPv4 address on the bridge (its `eth0`). */
  readonly address: string;
  /** The root-namespace end of the host's veth: what `cut` takes down. */
  readonly veth: string;
  readonly containerd: TestContainerd;
  readonly stateRoot: string;
  readonly runDir: string;
  /** Where the agent keeps runc state (`<runDir>/runc`; the shim adds `/<containerd namespace>`). */
  readonly runcRoot: string;
  /** The cgroup parent runc puts this host's containers under. */
  readonly cgroupPrefix: string;
  /** The agent's Prometheus endpoint, reachable from the root namespace while the host is not cut. */
  readonly metricsUrl: string;
  /** The agent's stdout and stderr (pino JSON lines), appended across restarts. */
  readonly logFile: string;
}

export interface TestHosts {
  readonly hosts: readonly TestHost[];
  /** The private NATS (`nats://<gateway>:<port>`), the only one the agents can reach. */
  readonly natsUrl: string;
  /** The bridge's address in the root network namespace. */
  readonly gateway: string;
  readonly bridge: string;
  /** The host by name; throws for an unknown name. */
  host(name: string): TestHost;
  /**
   * Starts every host's agent as `agent` says and resolves once each serves `/metrics`
   * (it has registered by then). Throws when agents were started already.
   */
  startAgents(agent: TestAgentOptions): Promise<void>;
  /** The host's veth down: its agent loses NATS, its containers keep running. Idempotent. */
  cut(host: TestHost | string): Promise<void>;
  /** The host's veth up again. Idempotent. */
  heal(host: TestHost | string): Promise<void>;
  isCut(host: TestHost | string): boolean;
  /** Sends `signal` (default SIGKILL) to the host's agent and resolves once it is gone; nothing when it is not running. */
  killAgent(host: TestHost | string, signal?: NodeJS.Signals): Promise<void>;
  /** Stops the host's agent if it runs (SIGTERM, SIGKILL after 10 s), starts it again and waits as `startAgents` does. */
  restartAgent(host: TestHost | string): Promise<void>;
  /** The agent's pid while it runs. */
  agentPid(host: TestHost | string): number | undefined;
  /** The host's agent log so far. */
  agentLog(host: TestHost | string): string;
  /**
   * What is left of these hosts on the machine: network namespaces, links, processes
   * (agents, containerds, shims, nats-server), mounts, directories, cgroups. Empty after
   * `teardown()`.
   */
  leftovers(): Promise<string[]>;
  /** Stops and removes everything; throws listing what it could not remove. Idempotent. */
  teardown(): Promise<void>;
}

export interface StartTestHostsOptions {
  /** How many hosts (1 to 50). */
  count: number;
  /** `[a-z0-9]{1,12}`: host names, directories and containerd names derive from it; unique per run. */
  name: string;
  /** Where the agent and nats-server logs go (created if missing). */
  logDir: string;
}

/** How the hosts' agents run; given to `startAgents` and kept for `restartAgent`. */
export interface TestAgentOptions {
  /** The agent's command line, e.g. `[process.execPath, "services/runtime-agent/dist/main.mjs"]`. */
  command: readonly string[];
  /**
   * Environment every agent gets (PATH, SHOAL_SUBJECT_PREFIX, SHOAL_LOG_LEVEL…). The
   * library sets SHOAL_HOST, SHOAL_NATS_URL, SHOAL_CONTAINERD_SOCKET, SHOAL_STATE_ROOT,
   * SHOAL_RUN_DIR, SHOAL_METRICS_PORT and the ones below over it.
   */
  env: Readonly<Record<string, string>>;
  /** SHOAL_HEARTBEAT_MS; default 1000. */
  heartbeatMs?: number;
  /** SHOAL_HOST_MEMORY, e.g. `256m`; absent: the agent probes the machine. */
  memory?: string;
  /** SHOAL_HOST_CPUS, e.g. `1.5`; absent: probed. */
  cpus?: string;
  /** The working directory of the agent processes. */
  cwd?: string;
}

/**
 * Starts the network, the private NATS and `count` hosts (not their agents: see
 * `startAgents`). Fails naming the prerequisite when not root or when `ip` (iproute2),
 * `nsenter` (util-linux), `nats-server`, containerd or runc is missing; on any failure
 * what was made is removed before the error is thrown.
 */
export async function startTestHosts(opts: StartTestHostsOptions): Promise<TestHosts> {
  if (!/^[a-z0-9]{1,12}$/.test(opts.name)) throw new Error(`test hosts name must match [a-z0-9]{1,12}, got ${JSON.stringify(opts.name)}`);
  if (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > 50) throw new Error(`test hosts count must be 1 to 50, got ${opts.count}`);
  const tools = await checkPrerequisites();
  await sweepAbandoned(tools);
  const fleet = new Fleet(opts, tools);
  try {
    await fleet.setUp();
  } catch (err) {
    await fleet.teardown().catch((cleanupErr: unknown) => console.error(`test hosts: cleanup after a failed start: ${(cleanupErr as Error).message}`));
    throw err;
  }
  return fleet;
}

interface Tools {
  ip: string;
  nsenter: string;
  natsServer: string;
}

async function checkPrerequisites(): Promise<Tools> {
  if (process.getuid?.() !== 0) throw new Error("prerequisite missing: test hosts need root (network namespaces, veths, mounts, containerd)");
  const ip = await findOnPath("ip");
  if (ip === undefined) throw new Error("prerequisite missing: `ip` not found on PATH: install iproute2 (scripts/lib.sh ensure_container_tools does it)");
  const nsenter = await findOnPath("nsenter");
  if (nsenter === undefined) throw new Error("prerequisite missing: `nsenter` not found on PATH: install util-linux");
  const natsServer = (await findOnPath("nats-server")) ?? ((await executable("/usr/sbin/nats-server")) ? "/usr/sbin/nats-server" : undefined);
  if (natsServer === undefined) throw new Error("prerequisite missing: `nats-server` not found (PATH or /usr/sbin): install nats-server (scripts/lib.sh ensure_nats does it)");
  return { ip, nsenter, natsServer };
}

interface HostState extends TestHost {
  readonly index: number;
  readonly peer: string;
  agent: ChildProcess | undefined;
  cut: boolean;
}

class Fleet implements TestHosts {
  readonly hosts: HostState[] = [];
  readonly bridge: string;
  gateway = "";
  natsUrl = "";
  private readonly tag = randomBytes(4).toString("hex");
  private readonly natsStore: string;
  private readonly natsLog: string;
  private nats: ChildProcess | undefined;
  private tornDown: Promise<void> | undefined;
  private agentOptions: TestAgentOptions | undefined;

  constructor(
    private readonly opts: StartTestHostsOptions,
    private readonly tools: Tools,
  ) {
    this.bridge = `shb${this.tag}`;
    this.natsStore = `/var/lib/shoal-test/${opts.name}-nats`;
    this.natsLog = join(opts.logDir, "nats-server.log");
  }

  async setUp(): Promise<void> {
    await mkdir(this.opts.logDir, { recursive: true });
    await this.saveRecord();
    const subnet = await this.pickSubnet();
    this.gateway = `${subnet}.1`;
    await this.ip("link", "add", this.bridge, "type", "bridge");
    await this.ip("addr", "add", `${this.gateway}/24`, "dev", this.bridge);
    await this.ip("link", "set", this.bridge, "up");
    await this.startNats();
    await this.saveRecord();

    for (let i = 1; i <= this.opts.count; i++) {
      const name = `${this.opts.name}-h${i}`;
      const runDir = `/run/shoal-test/${name}-run`;
      const address = `${subnet}.${i + 1}`;
      const host: HostState = {
        index: i,
        name,
        netns: `shoal-${this.tag}-h${i}`,
        address,
        veth: `shv${this.tag}h${i}`,
        peer: `shp${this.tag}h${i}`,
        // Filled in below; a failure before that leaves a host with nothing to stop.
        containerd: undefined as unknown as TestContainerd,
        stateRoot: `/var/lib/shoal-test/${name}-state`,
        runDir,
        runcRoot: join(runDir, "runc"),
        cgroupPrefix: `shoal-${name}`,
        metricsUrl: `http://${address}:${AGENT_METRICS_PORT}/metrics`,
        logFile: join(this.opts.logDir, `agent-${name}.log`),
        agent: undefined,
        cut: false,
      };
      this.hosts.push(host);
      await this.saveRecord();
      await this.ip("netns", "add", host.netns);
      await this.ip("link", "add", host.veth, "type", "veth", "peer", "name", host.peer);
      await this.ip("link", "set", host.peer, "netns", host.netns);
      await this.ip("link", "set", host.veth, "master", this.bridge, "up");
      await this.ip("-n", host.netns, "link", "set", host.peer, "name", "eth0");
      await this.ip("-n", host.netns, "addr", "add", `${address}/24`, "dev", "eth0");
      await this.ip("-n", host.netns, "link", "set", "eth0", "up");
      await this.ip("-n", host.netns, "link", "set", "lo", "up");
      await cleanupAgentState(statePaths(host));
      await mkdir(host.stateRoot, { recursive: true });
      await mkdir(host.runDir, { recursive: true });
    }
    // The containerds last and together: each takes a moment to answer.
    const containerds = await Promise.allSettled(this.hosts.map((h) => startTestContainerd({ name: h.name })));
    containerds.forEach((r, i) => {
      if (r.status === "fulfilled") (this.hosts[i] as { containerd: TestContainerd }).containerd = r.value;
    });
    await this.saveRecord();
    const failed = containerds.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }

  /** What a later run needs to remove these hosts should this process die before its teardown (see sweepAbandoned). */
  private async saveRecord(): Promise<void> {
    const record: FleetRecord = {
      owner: { pid: process.pid, startTime: await processStartTime(process.pid) },
      bridge: this.bridge,
      natsStore: this.natsStore,
      hosts: this.hosts.map((h) => ({
        ...statePaths(h),
        netns: h.netns,
        veth: h.veth,
        containerdSocket: h.containerd?.socket,
        containerdDirs: [...(h.containerd?.directories ?? [])],
      })),
    };
    if (this.nats?.pid !== undefined) record.natsPid = this.nats.pid;
    await mkdir(RECORD_DIR, { recursive: true });
    await writeFile(this.recordFile, JSON.stringify(record));
  }

  private get recordFile(): string {
    return join(RECORD_DIR, `test-hosts-${this.tag}.json`);
  }

  host(name: string): HostState {
    const h = this.hosts.find((x) => x.name === name);
    if (h === undefined) throw new Error(`no test host ${name} (have ${this.hosts.map((x) => x.name).join(", ")})`);
    return h;
  }

  private resolve(host: TestHost | string): HostState {
    return this.host(typeof host === "string" ? host : host.name);
  }

  async startAgents(agent: TestAgentOptions): Promise<void> {
    if (this.agentOptions !== undefined) throw new Error("test hosts: agents were started already (restartAgent restarts one)");
    this.agentOptions = agent;
    for (const h of this.hosts) this.spawnAgent(h);
    await Promise.all(this.hosts.map((h) => this.waitAgentReady(h)));
  }

  async cut(host: TestHost | string): Promise<void> {
    const h = this.resolve(host);
    await this.ip("link", "set", h.veth, "down");
    h.cut = true;
  }

  async heal(host: TestHost | string): Promise<void> {
    const h = this.resolve(host);
    await this.ip("link", "set", h.veth, "up");
    h.cut = false;
  }

  isCut(host: TestHost | string): boolean {
    return this.resolve(host).cut;
  }

  async killAgent(host: TestHost | string, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    await stopProcess(this.resolve(host).agent, signal, 10_000);
  }

  async restartAgent(host: TestHost | string): Promise<void> {
    const h = this.resolve(host);
    await stopProcess(h.agent, "SIGTERM", 10_000);
    this.spawnAgent(h);
    await this.waitAgentReady(h);
  }

  agentPid(host: TestHost | string): number | undefined {
    const agent = this.resolve(host).agent;
    return alive(agent) ? agent!.pid : undefined;
  }

  agentLog(host: TestHost | string): string {
    const file = this.resolve(host).logFile;
    return existsSync(file) ? readFileSync(file, "utf8") : "";
  }

  teardown(): Promise<void> {
    this.tornDown ??= this.removeAll();
    return this.tornDown;
  }

  private async removeAll(): Promise<void> {
    const step = async (what: string, f: () => Promise<unknown>) => {
      await f().catch((err: unknown) => console.error(`test hosts teardown: ${what}: ${(err as Error).message}`));
    };
    // Healed first, so a SIGTERM'd agent can finish what it says on NATS and stop cleanly.
    for (const h of this.hosts) if (h.cut) await step(`heal ${h.name}`, () => this.heal(h));
    await Promise.all(this.hosts.map((h) => step(`stop agent ${h.name}`, () => stopProcess(h.agent, "SIGTERM", 10_000))));
    for (const h of this.hosts) {
      await step(`state of ${h.name}`, () => cleanupAgentState(statePaths(h)));
      if (h.containerd !== undefined) await step(`containerd of ${h.name}`, () => h.containerd.stop());
      // The namespace holds eth0; deleting the namespace (no process is left in it) deletes the veth pair.
      await step(`netns ${h.netns}`, () => this.ipIfPresent("netns", "del", h.netns));
      await step(`veth ${h.veth}`, () => this.ipIfPresent("link", "del", h.veth));
    }
    await step("nats-server", () => stopProcess(this.nats, "SIGTERM", 10_000));
    await step("nats store", () => rm(this.natsStore, { recursive: true, force: true }));
    await step(`bridge ${this.bridge}`, () => this.ipIfPresent("link", "del", this.bridge));
    const left = await this.leftovers();
    if (left.length === 0) await rm(this.recordFile, { force: true });
    if (left.length > 0) throw new Error(`test hosts teardown left:\n  ${left.join("\n  ")}`);
  }

  async leftovers(): Promise<string[]> {
    const left: string[] = [];
    const netns = (await this.ipOut("netns", "list")).split("\n").map((l) => l.split(" ")[0]);
    for (const h of this.hosts) if (netns.includes(h.netns)) left.push(`network namespace ${h.netns}`);
    for (const line of (await this.ipOut("-o", "link", "show")).split("\n")) {
      const link = /^\d+:\s+([^:@]+)/.exec(line)?.[1];
      if (link !== undefined && link.includes(this.tag)) left.push(`link ${link}`);
    }
    for (const h of this.hosts) if (alive(h.agent)) left.push(`agent process ${h.agent!.pid} of ${h.name}`);
    if (alive(this.nats)) left.push(`nats-server process ${this.nats!.pid}`);
    const sockets = new Set(this.hosts.flatMap((h) => (h.containerd === undefined ? [] : [h.containerd.socket])));
    for (const p of await processesWith((args) => args.some((a) => sockets.has(a)))) left.push(`process ${p.pid}: ${p.args.join(" ")}`);
    const dirs = [
      this.natsStore,
      ...this.hosts.flatMap((h) => [h.stateRoot, h.runDir, ...(h.containerd?.directories ?? [])]),
    ];
    for (const m of await mountPoints()) {
      if (dirs.some((d) => m === d || m.startsWith(`${d}/`))) left.push(`mount ${m}`);
    }
    for (const d of dirs) if (existsSync(d)) left.push(`directory ${d}`);
    for (const h of this.hosts) for (const c of await agentCgroupParents(h.name)) left.push(`cgroup ${c}`);
    return left;
  }

  private spawnAgent(h: HostState): void {
    const agent = this.agentOptions;
    if (agent === undefined) throw new Error("test hosts: startAgents first");
    const env: Record<string, string> = {
      ...agent.env,
      SHOAL_HOST: h.name,
      SHOAL_NATS_URL: this.natsUrl,
      SHOAL_CONTAINERD_SOCKET: h.containerd.socket,
      SHOAL_STATE_ROOT: h.stateRoot,
      SHOAL_RUN_DIR: h.runDir,
      SHOAL_METRICS_PORT: String(AGENT_METRICS_PORT),
      SHOAL_HEARTBEAT_MS: String(agent.heartbeatMs ?? 1000),
    };
    if (agent.memory !== undefined) env.SHOAL_HOST_MEMORY = agent.memory;
    if (agent.cpus !== undefined) env.SHOAL_HOST_CPUS = agent.cpus;
    const fd = openSync(h.logFile, "a");
    try {
      // nsenter execs the command: the child's pid is the agent's.
      h.agent = spawn(this.tools.nsenter, [`--net=/run/netns/${h.netns}`, "--", ...agent.command], {
        cwd: agent.cwd,
        env,
        stdio: ["ignore", fd, fd],
      });
    } finally {
      closeSync(fd);
    }
  }

  /** Until the agent answers on its metrics port through the veth: it registered before it began to serve. */
  private async waitAgentReady(h: HostState): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (!alive(h.agent)) {
        const how = h.agent === undefined ? "was never started" : `exited with ${h.agent.exitCode ?? h.agent.signalCode}`;
        throw new Error(`agent of test host ${h.name} ${how}:\n${tail(this.agentLog(h))}`);
      }
      if (await httpAnswers(h.metricsUrl)) return;
      if (Date.now() > deadline) throw new Error(`agent of test host ${h.name} did not serve ${h.metricsUrl} within 60 s${h.cut ? " (the host is cut)" : ""}:\n${tail(this.agentLog(h))}`);
      await sleep(100);
    }
  }

  private async startNats(): Promise<void> {
    await rm(this.natsStore, { recursive: true, force: true });
    await mkdir(this.natsStore, { recursive: true });
    const port = await freePort(this.gateway);
    const fd = openSync(this.natsLog, "a");
    try {
      this.nats = spawn(this.tools.natsServer, ["-js", "-a", this.gateway, "-p", String(port), "-sd", this.natsStore, "-n", `shoal-test-${this.opts.name}`], {
        stdio: ["ignore", fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (!alive(this.nats)) throw new Error(`nats-server exited while starting:\n${tail(await readFile(this.natsLog, "utf8").catch(() => ""))}`);
      if (await tcpAnswers(this.gateway, port)) break;
      if (Date.now() > deadline) throw new Error(`nats-server did not answer on ${this.gateway}:${port} within 20 s`);
      await sleep(50);
    }
    this.natsUrl = `nats://${this.gateway}:${port}`;
  }

  /** A `10.x.y` /24 that no address or route of the machine overlaps. */
  private async pickSubnet(): Promise<string> {
    const taken = [
      ...(await this.ipOut("-4", "-o", "addr", "show")).matchAll(/inet (\d+\.\d+\.\d+\.\d+)\/(\d+)/g),
      ...(await this.ipOut("-4", "route", "show", "table", "all")).matchAll(/^(?:\S+ )?(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?/gm),
    ].map((m) => ({ net: ipv4(m[1]!), bits: Number(m[2] ?? 32) }));
    for (let attempt = 0; attempt < 100; attempt++) {
      const [a, b] = randomBytes(2);
      const subnet = `10.${200 + (a! % 50)}.${b!}`;
      const net = ipv4(`${subnet}.0`);
      const overlaps = taken.some((t) => {
        const bits = Math.min(t.bits, 24);
        const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
        return (t.net & mask) >>> 0 === (net & mask) >>> 0;
      });
      if (!overlaps) return subnet;
    }
    throw new Error("test hosts: no free 10.200-249.x.0/24 subnet on this machine");
  }

  private async ip(...args: string[]): Promise<void> {
    await this.ipOut(...args);
  }

  private async ipOut(...args: string[]): Promise<string> {
    try {
      return (await execFileAsync(this.tools.ip, args)).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`ip ${args.join(" ")}: ${(e.stderr ?? e.message).trim()}`, { cause: err });
    }
  }

  /** `ip …` that is fine when the object is already gone. */
  private async ipIfPresent(...args: string[]): Promise<void> {
    try {
      await this.ip(...args);
    } catch (err) {
      if (!/Cannot find device|No such file|does not exist|Cannot open network namespace/.test((err as Error).message)) throw err;
    }
  }
}

/** Where each run keeps the record of its hosts until its teardown is done. */
const RECORD_DIR = "/run/shoal-test";

interface FleetRecord {
  /** The process that made the hosts: its pid and start time (field 22 of /proc/<pid>/stat), so a reused pid is not mistaken for it. */
  owner: { pid: number; startTime: string };
  bridge: string;
  natsPid?: number;
  natsStore: string;
  hosts: (AgentStatePaths & { netns: string; veth: string; containerdSocket: string | undefined; containerdDirs: string[] })[];
}

/**
 * Removes the hosts of earlier runs whose process died before their teardown (a killed
 * vitest leaves agents, containerds, nats-server, namespaces and veths behind): every
 * record in RECORD_DIR whose owner is gone. Records of live runs are left alone, so runs
 * side by side never touch each other's hosts. Never throws.
 */
async function sweepAbandoned(tools: Tools): Promise<void> {
  const files = (await readdir(RECORD_DIR).catch(() => [] as string[])).filter((f) => /^test-hosts-[0-9a-f]+\.json$/.test(f));
  for (const file of files) {
    const path = join(RECORD_DIR, file);
    let record: FleetRecord;
    try {
      record = JSON.parse(await readFile(path, "utf8")) as FleetRecord;
    } catch {
      continue; // being written, or not ours
    }
    if ((await processStartTime(record.owner.pid)) === record.owner.startTime) continue;
    const ip = (...args: string[]) => execFileAsync(tools.ip, args).then(() => undefined, () => undefined);
    for (const h of record.hosts) {
      const { stdout } = await execFileAsync(tools.ip, ["netns", "pids", h.netns]).catch(() => ({ stdout: "" }));
      for (const pid of stdout.split("\n").filter((l) => /^\d+$/.test(l.trim()))) killNow(Number(pid));
    }
    if (record.natsPid !== undefined) {
      const args = (await readFile(`/proc/${record.natsPid}/cmdline`, "utf8").catch(() => "")).split("\0");
      if (args.includes(record.natsStore)) killNow(record.natsPid);
    }
    for (const h of record.hosts) await cleanupAgentState(h);
    const sockets = new Set(record.hosts.flatMap((h) => (h.containerdSocket === undefined ? [] : [h.containerdSocket])));
    for (const p of await processesWith((args) => args.some((a) => sockets.has(a)))) killNow(p.pid);
    const dirs = record.hosts.flatMap((h) => h.containerdDirs);
    for (const m of (await mountPoints().catch(() => [] as string[])).filter((m) => dirs.some((d) => m === d || m.startsWith(`${d}/`))).sort((a, b) => b.length - a.length)) {
      await execFileAsync("umount", ["-l", m]).catch(() => undefined);
    }
    for (const d of [...dirs, record.natsStore]) await rm(d, { recursive: true, force: true }).catch(() => undefined);
    for (const h of record.hosts) {
      await ip("netns", "del", h.netns);
      await ip("link", "del", h.veth);
    }
    await ip("link", "del", record.bridge);
    await rm(path, { force: true });
    console.error(`test hosts: removed the hosts of an earlier run (pid ${record.owner.pid}) that ended before its teardown`);
  }
}

/** The start time of a process (/proc/<pid>/stat field 22); "" when there is none. */
async function processStartTime(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // The command name (field 2) may hold spaces and parentheses: count from the last ")".
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
}

function killNow(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

function statePaths(h: TestHost): AgentStatePaths {
  return { stateRoot: h.stateRoot, runDir: h.runDir, host: h.name };
}

function ipv4(address: string): number {
  return address.split(".").reduce((n, part) => ((n << 8) | Number(part)) >>> 0, 0);
}

function alive(c: ChildProcess | undefined): boolean {
  return c !== undefined && c.exitCode === null && c.signalCode === null;
}

/** Signals the process and resolves once it exited; SIGKILL after `graceMs`. Nothing when it is not running. */
async function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child === undefined || !alive(child)) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

async function processesWith(match: (args: string[]) => boolean): Promise<{ pid: number; args: string[] }[]> {
  const found: { pid: number; args: string[] }[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const args = (await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "")).split("\0").filter((a) => a !== "");
    if (args.length > 0 && match(args)) found.push({ pid: Number(entry), args });
  }
  return found;
}

/** A TCP port free on `address` now (the kernel's choice, released at once). */
function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, address, () => {
      const a = server.address();
      server.close(() => (typeof a === "object" && a !== null ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

function tcpAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function httpAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(bin: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(delimiter)) {
    if (await executable(join(dir, bin))) return join(dir, bin);
  }
  return undefined;
}

function tail(text: string): string {
  return text.split("\n").slice(-20).join("\n");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
