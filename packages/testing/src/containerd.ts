import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { constants } from "node:fs";
import { access, mkdir, open, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface TestContainerd {
  /** Unix socket of containerd's gRPC API (under 108 bytes). */
  readonly socket: string;
  /**
   * runc state directory reserved for this instance: pass it as `Options.root` so two
   * containerds on one machine never share runc state (the shim adds `/<namespace>`).
   */
  readonly runcRoot: string;
  /** File receiving containerd's stdout and stderr. */
  readonly logFile: string;
  /** The directories this instance owns (root and run directory); `stop()` removes them. */
  readonly directories: readonly string[];
  /**
   * Stops containerd (SIGTERM, SIGKILL after 10 s), runs `whileDown` if given, and starts it
   * again on the same root, state and socket; resolves once the socket answers. Shims and
   * running tasks survive, as they do across a real daemon restart.
   */
  restart(opts?: { whileDown?: () => Promise<void> }): Promise<void>;
  /**
   * Tears everything down: stops containerd, force-deletes runc containers left under
   * `runcRoot`, kills shims still serving this socket, unmounts anything under this
   * instance's directories and removes them. Idempotent.
   */
  stop(): Promise<void>;
}

export interface StartTestContainerdOptions {
  /** Short name, `[a-z0-9-]{1,24}`; directories and the socket are derived from it. */
  name: string;
}

const REQUIRED_BINARIES = ["containerd", "runc", "containerd-shim-runc-v2"];

/**
 * Starts a private containerd beside any system one:
 * root `/var/lib/shoal-test/<name>/root`, state `/run/shoal-test/<name>/state`, socket
 * `/run/shoal-test/<name>/c.sock`, CRI plugin disabled. Leftovers of an earlier run with the
 * same name are removed first. Resolves once the socket accepts connections.
 *
 * Fails with a message naming what to install when containerd, runc or the runc v2 shim is
 * not on PATH, and with the tail of containerd's log when it exits or does not answer.
 * Callers must `stop()` it in `afterAll`.
 */
export async function startTestContainerd(opts: StartTestContainerdOptions): Promise<TestContainerd> {
  if (!/^[a-z0-9-]{1,24}$/.test(opts.name)) {
    throw new Error(`test containerd name must match [a-z0-9-]{1,24}, got ${JSON.stringify(opts.name)}`);
  }
  for (const bin of REQUIRED_BINARIES) {
    if ((await findOnPath(bin)) === undefined) {
      throw new Error(`${bin} not found on PATH: install containerd runc (\`npm test\` does it)`);
    }
  }

  // SHOAL_TEST_INSTANCE (short, [a-z0-9]) keeps two test runs on one machine (e.g. a CI
  // clone beside a working tree) from sharing, and so killing, each other's containerd.
  const instanceTag = process.env.SHOAL_TEST_INSTANCE;
  if (instanceTag !== undefined && !/^[a-z0-9]{1,8}$/.test(instanceTag)) {
    throw new Error(`SHOAL_TEST_INSTANCE must match [a-z0-9]{1,8}, got ${JSON.stringify(instanceTag)}`);
  }
  const dirName = instanceTag ? `${instanceTag}-${opts.name}` : opts.name;
  const base = `/var/lib/shoal-test/${dirName}`;
  const run = `/run/shoal-test/${dirName}`;
  const root = join(base, "root");
  const state = join(run, "state");
  const socket = join(run, "c.sock");
  const runcRoot = join(run, "runc");
  const configFile = join(run, "config.toml");
  const logFile = join(run, "containerd.log");

  const instance = new Instance(opts.name, { base, run, root, state, socket, runcRoot, configFile, logFile });
  await instance.cleanup();
  await mkdir(root, { recursive: true });
  await mkdir(state, { recursive: true });
  await mkdir(runcRoot, { recursive: true });
  await writeFile(configFile, configToml({ root, state, socket }));
  await instance.start();
  return instance;
}

function configToml(p: { root: string; state: string; socket: string }): string {
  return [
    "version = 2",
    `root = ${JSON.stringify(p.root)}`,
    `state = ${JSON.stringify(p.state)}`,
    `disabled_plugins = ["io.containerd.grpc.v1.cri"]`,
    "",
    "[grpc]",
    `  address = ${JSON.stringify(p.socket)}`,
    "",
    "[ttrpc]",
    `  address = ${JSON.stringify(`${p.socket}.ttrpc`)}`,
    "",
    `[plugins."io.containerd.internal.v1.opt"]`,
    `  path = ${JSON.stringify(join(p.root, "opt"))}`,
    "",
  ].join("\n");
}

interface Paths {
  base: string;
  run: string;
  root: string;
  state: string;
  socket: string;
  runcRoot: string;
  configFile: string;
  logFile: string;
}

class Instance implements TestContainerd {
  private child: ChildProcess | undefined;
  readonly socket: string;
  readonly runcRoot: string;
  readonly logFile: string;
  readonly directories: readonly string[];

  constructor(
    private readonly name: string,
    private readonly paths: Paths,
  ) {
    this.socket = paths.socket;
    this.runcRoot = paths.runcRoot;
    this.logFile = paths.logFile;
    this.directories = [paths.base, paths.run];
  }

  async start(): Promise<void> {
    const log = await open(this.paths.logFile, "a");
    try {
      const child = spawn(
        "containerd",
        ["--config", this.paths.configFile, "--root", this.paths.root, "--state", this.paths.state, "--address", this.paths.socket],
        { stdio: ["ignore", log.fd, log.fd] },
      );
      this.child = child;
      let exited: string | undefined;
      child.once("exit", (code, signal) => {
        exited = `exited with ${code ?? signal}`;
      });
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (exited !== undefined) throw new Error(`test containerd ${this.name} ${exited}:\n${await this.logTail()}`);
        if (await answers(this.paths.socket)) return;
        if (Date.now() > deadline) {
          throw new Error(`test containerd ${this.name} did not answer on ${this.paths.socket} within 20 s:\n${await this.logTail()}`);
        }
        await sleep(50);
      }
    } finally {
      await log.close();
    }
  }

  async restart(opts: { whileDown?: () => Promise<void> } = {}): Promise<void> {
    await this.stopDaemon();
    try {
      await opts.whileDown?.();
    } finally {
      await this.start();
    }
  }

  async stop(): Promise<void> {
    await this.stopDaemon();
    await this.cleanup();
  }

  /** Removes everything an earlier instance with this name may have left. */
  async cleanup(): Promise<void> {
    await this.killStrayDaemon();
    await this.deleteRuncContainers();
    await this.killShims();
    await unmountUnder([this.paths.run, this.paths.base]);
    await rm(this.paths.run, { recursive: true, force: true });
    await rm(this.paths.base, { recursive: true, force: true });
  }

  private async stopDaemon(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** The runc v2 shim keeps state in `<Options.root>/<containerd namespace>/<id>`. */
  private async deleteRuncContainers(): Promise<void> {
    const namespaces = await readdir(this.paths.runcRoot).catch(() => []);
    for (const ns of namespaces) {
      const root = join(this.paths.runcRoot, ns);
      const { stdout } = await execFileAsync("runc", ["--root", root, "list", "-q"]).catch(() => ({ stdout: "" }));
      for (const id of stdout.split("\n").filter((s) => s !== "")) {
        await execFileAsync("runc", ["--root", root, "delete", "--force", id]).catch(() => undefined);
      }
    }
  }

  /** A containerd on this socket left by a run that was killed before its afterAll (same name, same paths). */
  private async killStrayDaemon(): Promise<void> {
    const pids = await processesWith((args) => args[0] === "containerd" && argAfter(args, "--address") === this.paths.socket);
    for (const pid of pids) signal(pid, "SIGKILL");
    for (const pid of pids) await waitGone(pid);
  }

  /** Kills, by pid, runc shims whose command line names this instance's socket. */
  private async killShims(): Promise<void> {
    const pids = await processesWith(
      (args) => (args[0] ?? "").endsWith("containerd-shim-runc-v2") && argAfter(args, "-address") === this.paths.socket,
    );
    for (const pid of pids) signal(pid, "SIGKILL");
  }

  private async logTail(): Promise<string> {
    const text = await readFile(this.paths.logFile, "utf8").catch(() => "");
    return text.split("\n").slice(-30).join("\n");
  }
}

async function processesWith(match: (args: string[]) => boolean): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (match(cmdline.split("\0"))) pids.push(Number(entry));
  }
  return pids;
}

function argAfter(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(25);
  }
}

async function unmountUnder(prefixes: string[]): Promise<void> {
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8");
  const points = mountinfo
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined && prefixes.some((pre) => p === pre || p.startsWith(`${pre}/`)))
    .map(unescapeMountPoint)
    // Deepest first so parents are not busy.
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    await execFileAsync("umount", ["-l", p]).catch(() => undefined);
  }
}

function unescapeMountPoint(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socket);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function findOnPath(bin: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(delimiter)) {
    const candidate = join(dir, bin);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
