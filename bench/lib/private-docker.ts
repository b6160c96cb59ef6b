/**
 * A private Docker engine for comparisons: Debian's `docker.io` dockerd on its own sockets,
 * directories and containerd, so it never touches a system Docker or Shoal's containerd.
 *
 *   data root  /var/lib/shoal-bench/docker        exec root  /run/shoal-bench/docker-exec
 *   API        unix:///run/shoal-bench/docker.sock pidfile   /run/shoal-bench/docker.pid
 *   containerd a private one (`startTestContainerd`), cgroup parent /shoal-bench-docker
 *   --bridge=none --iptables=false --ip-masq=false: containers on docker's default network
 *   get no interface but loopback, and that is dockerd's fast start (`--network none` is
 *   its slow one here, about twice as long)
 *
 * With `{ experimental: true }` dockerd also gets `--experimental`, which enables
 * `docker checkpoint create` and `docker start --checkpoint` (CRIU: the `criu` first on PATH,
 * found by runc, which containerd's shim runs with this process's PATH).
 *
 * `stop()` removes every container, stops dockerd and its containerd, unmounts what is left
 * under its directories and removes them. Requires root; installs `docker.io` with apt when
 * `/usr/sbin/dockerd` is missing.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdir, readFile, rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { startTestContainerd } from "../../packages/testing/src/index";
import type { TestContainerd } from "../../packages/testing/src/index";
import { forceDeleteRuncContainers, removeCgroupTree, unmountBelow } from "./host-leftovers";
import { runQuiet, timeProcess } from "./processes";

export const DOCKERD = "/usr/sbin/dockerd";
/** Debian's client, by path: another `docker` may come first on PATH. */
export const DOCKER = "/usr/bin/docker";
const BENCH_RUN = "/run/shoal-bench";
const DATA_ROOT = "/var/lib/shoal-bench/docker";
const EXEC_ROOT = join(BENCH_RUN, "docker-exec");
const SOCKET = join(BENCH_RUN, "docker.sock");
const PIDFILE = join(BENCH_RUN, "docker.pid");
const LOGFILE = join(BENCH_RUN, "dockerd.log");
const CGROUP_PARENT = "shoal-bench-docker";

export interface PrivateDocker {
  /** `docker -H unix:///run/shoal-bench/docker.sock …` arguments prefix. */
  readonly hostArgs: readonly string[];
  readonly socket: string;
  /** Runs `docker <args>`; rejects with its stderr on a non-zero exit. */
  docker(args: readonly string[], input?: string): Promise<string>;
  /** Imports a root filesystem directory as image `ref` (`tar -C dir -c . | docker import - ref`). */
  importRootfs(dir: string, ref: string): Promise<void>;
  stop(): Promise<void>;
}

/** Installs docker.io with apt when dockerd is not there. */
export async function ensureDockerInstalled(): Promise<void> {
  if (existsSync(DOCKERD) && existsSync(DOCKER)) return;
  console.error("docker.io is missing: apt-get install -y docker.io …");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  let r = await runQuiet("apt-get", ["install", "-y", "--no-install-recommends", "docker.io"], env);
  if (r.code !== 0) {
    await runQuiet("apt-get", ["update"], env);
    r = await runQuiet("apt-get", ["install", "-y", "--no-install-recommends", "docker.io"], env);
  }
  if (r.code !== 0 || !existsSync(DOCKERD)) throw new Error(`could not install docker.io with apt: ${r.stderr.trim().split("\n").slice(-3).join("\n")}`);
}

export interface PrivateDockerOptions {
  /** Start dockerd `--experimental` (checkpoints). Default false. */
  experimental?: boolean;
}

export async function startPrivateDocker(tag: string, opts: PrivateDockerOptions = {}): Promise<PrivateDocker> {
  await ensureDockerInstalled();
  if (existsSync(PIDFILE)) {
    const pid = Number((await readFile(PIDFILE, "utf8")).trim());
    if (pid > 0 && existsSync(`/proc/${pid}`)) throw new Error(`a benchmark dockerd already runs (pid ${pid}, ${PIDFILE}): another bench:e2e is running`);
  }
  await mkdir(BENCH_RUN, { recursive: true });
  await mkdir(DATA_ROOT, { recursive: true });
  let containerd: TestContainerd | undefined;
  let dockerdPid: number | undefined;
  const hostArgs = ["-H", `unix://${SOCKET}`];
  const docker = async (args: readonly string[], input?: string) =>
    (await timeProcess(DOCKER, [...hostArgs, ...args], input === undefined ? {} : { input })).stdout;

  const stop = async () => {
    if (dockerdPid !== undefined && existsSync(`/proc/${dockerdPid}`)) {
      const ids = (await runQuiet(DOCKER, [...hostArgs, "ps", "-aq"])).stdout.split("\n").filter((s) => s !== "");
      if (ids.length > 0) await runQuiet(DOCKER, [...hostArgs, "rm", "-f", ...ids]);
      process.kill(dockerdPid, "SIGTERM");
      const deadline = Date.now() + 20_000;
      while (existsSync(`/proc/${dockerdPid}`) && Date.now() < deadline) await sleep(100);
      if (existsSync(`/proc/${dockerdPid}`)) process.kill(dockerdPid, "SIGKILL");
      while (existsSync(`/proc/${dockerdPid}`)) await sleep(50);
    }
    // dockerd gives runc a root under its exec root: containers left there when dockerd died.
    await forceDeleteRuncContainers(join(EXEC_ROOT, "runtime-runc"));
    await containerd?.stop();
    await unmountBelow([DATA_ROOT, EXEC_ROOT]);
    await rm(DATA_ROOT, { recursive: true, force: true });
    await rm(EXEC_ROOT, { recursive: true, force: true });
    await rm(SOCKET, { force: true });
    await rm(PIDFILE, { force: true });
    await rm(LOGFILE, { force: true });
    await rmdir(BENCH_RUN).catch(() => undefined);
    await rmdir("/var/lib/shoal-bench").catch(() => undefined);
    await removeCgroupTree(CGROUP_PARENT);
  };

  try {
    containerd = await startTestContainerd({ name: `bench-docker-${tag}` });
    const fd = openSync(LOGFILE, "w");
    const child = spawn(
      DOCKERD,
      [
        "--data-root", DATA_ROOT,
        "--exec-root", EXEC_ROOT,
        "-H", `unix://${SOCKET}`,
        "--containerd", containerd.socket,
        "--pidfile", PIDFILE,
        "--iptables=false",
        "--ip-masq=false",
        "--bridge=none",
        "--cgroup-parent", `/${CGROUP_PARENT}`,
        "--log-level", "warn",
        ...(opts.experimental === true ? ["--experimental"] : []),
      ],
      { stdio: ["ignore", fd, fd], detached: false },
    );
    closeSync(fd);
    dockerdPid = child.pid;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`dockerd exited while starting: ${(await readFile(LOGFILE, "utf8")).split("\n").slice(-10).join("\n")}`);
      }
      if ((await runQuiet(DOCKER, [...hostArgs, "version", "--format", "{{.Server.Version}}"])).code === 0) break;
      if (Date.now() > deadline) throw new Error(`dockerd did not answer on ${SOCKET} within 60 s (log: ${LOGFILE})`);
      await sleep(200);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    hostArgs,
    socket: SOCKET,
    docker,
    async importRootfs(dir, ref) {
      // `tar -C dir -c . | docker import - ref`, without a shell.
      await new Promise<void>((resolve, reject) => {
        const tar = spawn("tar", ["-C", dir, "-c", "."], { stdio: ["ignore", "pipe", "inherit"] });
        const imp = spawn(DOCKER, [...hostArgs, "import", "-", ref], { stdio: ["pipe", "ignore", "pipe"] });
        let stderr = "";
        imp.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        tar.stdout.pipe(imp.stdin);
        imp.once("close", (code) => (code === 0 ? resolve() : reject(new Error(`docker import ${ref} exited ${code}: ${stderr.trim()}`))));
      });
    },
    stop,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
