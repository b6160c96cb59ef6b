import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, cp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { decodeHostReport, hostReportSubject, reportsStreamName, sendHostCommand } from "@shoal/bus";
import type { HostReport } from "@shoal/bus";
import { parseMountInfo } from "@shoal/host-os";
import { connectTestNats, ensureBusyboxRootfs, startTestContainerd } from "@shoal/testing";
import type { TestContainerd, TestNats } from "@shoal/testing";
import pino from "pino";
import { startAgent } from "./agent";
import { removeEmptyCgroupParents } from "./cgroup-parents";
import type { Agent, StartAgentOptions } from "./agent";

const execFileAsync = promisify(execFile);

/** Test-only: what every agent int test needs, started once per file. Not part of the package surface. */
export interface AgentTestBed {
  readonly containerd: TestContainerd;
  readonly nats: TestNats;
  readonly host: string;
  readonly stateRoot: string;
  readonly runDir: string;
  /** A busybox rootfs with `/bin/shmget` (a static SysV shm helper) added. */
  readonly rootfs: string;
  agent: Agent | undefined;
  /** Starts the agent in this process; `overrides` replace the bed's options (e.g. a `hostOs`). */
  startInProcessAgent(overrides?: Partial<StartAgentOptions>): Promise<Agent>;
  /** Runs `node --import tsx services/runtime-agent/src/main.ts` as a child and resolves once it answers commands. */
  spawnAgentProcess(): Promise<AgentProcess>;
  send<T = Record<string, unknown>>(command: string, payload: unknown, timeoutMs?: number): Promise<T>;
  /** Every report of this host stored in the reports stream, in order. */
  reports(type?: string): Promise<HostReport[]>;
  /** Mount points under the state root (the state root's own bind excluded). */
  mountsUnderStateRoot(): Promise<string[]>;
  cleanup(): Promise<void>;
}

export interface AgentProcess {
  readonly pid: number;
  /** SIGKILL; resolves once the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM (clean shutdown); resolves with the exit code. */
  stop(): Promise<number | null>;
}

export const RUNC = { name: "runc", path: "/usr/sbin/runc" };

/** A 64-hex container id, as Shoal makes them. */
export function newContainerId(): string {
  return randomBytes(32).toString("hex");
}

const SHMGET_C = `
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/shm.h>
/* shmget KEY: creates (or finds) a 4096-byte System V segment with that key and prints its id. */
int main(int argc, char **argv) {
  key_t key = argc > 1 ? (key_t)atoi(argv[1]) : IPC_PRIVATE;
  int id = shmget(key, 4096, IPC_CREAT | 0600);
  if (id < 0) { perror("shmget"); return 1; }
  printf("%d\\n", id);
  return 0;
}
`;

export async function createAgentTestBed(name: string): Promise<AgentTestBed> {
  const tag = randomBytes(3).toString("hex");
  const host = `h${tag}`;
  const base = `/var/lib/shoal-test/agent-${name}-${tag}`;
  const stateRoot = join(base, "state");
  const runDir = `/run/shoal-test/a-${tag}`;
  const busybox = await ensureBusyboxRootfs();
  const rootfs = join(base, "rootfs");
  await cp(busybox, rootfs, { recursive: true, verbatimSymlinks: true });
  await writeFile(join(base, "shmget.c"), SHMGET_C);
  try {
    await execFileAsync("gcc", ["-static", "-O2", "-o", join(rootfs, "bin/shmget"), join(base, "shmget.c")]);
  } catch (err) {
    throw new Error("prerequisite missing: gcc with static glibc (apt-get install gcc libc6-dev) to build the SysV shm helper", {
      cause: err,
    });
  }
  await chmod(join(rootfs, "bin/shmget"), 0o755);
  const containerd = await startTestContainerd({ name: `ag-${name}`.slice(0, 24) });
  const nats = await connectTestNats();
  const quiet = pino({ level: process.env.SHOAL_TEST_LOG ?? "silent" });

  const bed: AgentTestBed = {
    containerd,
    nats,
    host,
    stateRoot,
    runDir,
    rootfs,
    agent: undefined,
    async startInProcessAgent(overrides = {}) {
      bed.agent = await startAgent({
        host,
        nc: nats.nc,
        subjectPrefix: nats.prefix,
        containerdSocket: containerd.socket,
        stateRoot,
        runDir,
        metricsPort: 0,
        heartbeatIntervalMs: 1000,
        runtimes: [RUNC],
        logger: quiet,
        ...overrides,
      });
      return bed.agent;
    },
    async spawnAgentProcess() {
      // node --import tsx (not the tsx CLI, which forks): SIGKILL must hit the agent itself.
      const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", join(process.cwd(), "services/runtime-agent/src/main.ts")], {
        env: {
          ...process.env,
          SHOAL_HOST: host,
          SHOAL_SUBJECT_PREFIX: nats.prefix,
          SHOAL_CONTAINERD_SOCKET: containerd.socket,
          SHOAL_STATE_ROOT: stateRoot,
          SHOAL_RUN_DIR: runDir,
          SHOAL_METRICS_PORT: "0",
          SHOAL_HEARTBEAT_MS: "1000",
        },
        stdio: ["ignore", "ignore", process.env.SHOAL_TEST_LOG ? "inherit" : "ignore"],
      });
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      let gone = false;
      void exited.then(() => (gone = true));
      for (let i = 0; ; i++) {
        if (gone) throw new Error("agent process exited before answering (run with SHOAL_TEST_LOG=info to see why)");
        try {
          await sendHostCommand(nats.nc, { prefix: nats.prefix, host, command: "ListContainers", payload: {}, timeoutMs: 500 });
          break;
        } catch {
          if (i > 300) throw new Error("agent process did not answer within 60 s");
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      return {
        pid: child.pid!,
        async kill9() {
          child.kill("SIGKILL");
          await exited;
        },
        async stop() {
          child.kill("SIGTERM");
          return exited;
        },
      };
    },
    send(command, payload, timeoutMs = 60_000) {
      return sendHostCommand(nats.nc, { prefix: nats.prefix, host, command, payload, timeoutMs });
    },
    async reports(type) {
      const stream = reportsStreamName(nats.prefix);
      const info = await nats.jsm.streams.info(stream);
      const subject = type === undefined ? undefined : hostReportSubject(nats.prefix, host, type);
      const out: HostReport[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
        const m = await nats.jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
        if (m === undefined || m === null) continue;
        if (subject !== undefined && m.subject !== subject) continue;
        if (!m.subject.includes(`.${host}.`)) continue;
        out.push(decodeHostReport({ subject: m.subject, data: m.data, headers: m.header } as never));
      }
      return out;
    },
    async mountsUnderStateRoot() {
      const table = parseMountInfo(await readFile("/proc/self/mountinfo", "utf8"));
      return table.map((m) => m.mountPoint).filter((p) => p.startsWith(`${stateRoot}/`));
    },
    async cleanup() {
      await bed.agent?.stop().catch(() => undefined);
      // The agent's runc root is its own (not the test containerd's): a test that failed
      // midway may have left containers there, so force-delete them before containerd goes.
      // The shim runs runc with `--root <Options.root>/<containerd namespace>`.
      for (const ns of await readdir(join(runDir, "runc")).catch(() => [] as string[])) {
        const runcRoot = join(runDir, "runc", ns);
        const listed = await execFileAsync("runc", ["--root", runcRoot, "list", "-q"]).catch(() => ({ stdout: "" }));
        for (const id of listed.stdout.split("\n").filter(Boolean)) {
          await execFileAsync("runc", ["--root", runcRoot, "delete", "--force", id]).catch(() => undefined);
        }
      }
      await containerd.stop();
      // Agents run as child processes may have been killed: remove this host's cgroup parents here too.
      await removeEmptyCgroupParents(`shoal-${host}`);
      await nats.cleanup();
      const table = parseMountInfo(await readFile("/proc/self/mountinfo", "utf8"));
      const left = table
        .map((m) => m.mountPoint)
        .filter((p) => p === base || p.startsWith(`${base}/`))
        .sort((a, b) => b.length - a.length);
      for (const p of left) await execFileAsync("umount", ["-l", p]).catch(() => undefined);
      await rm(base, { recursive: true, force: true });
      await rm(runDir, { recursive: true, force: true });
    },
  };
  return bed;
}
