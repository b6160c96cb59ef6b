/**
 * A pretend runtime agent for the api's int tests: answers host commands on one host and
 * publishes reports as the real agent does (same report ids), with no containers behind
 * them. StartContainer of a container it already runs answers `alreadyRunning`, as the
 * real agent does. Not used in production.
 */
import type { Logger } from "pino";
import { publishHostReport, serveHostCommands } from "@shoal/bus";
import type { HostCommandServer } from "@shoal/bus";
import { FailedPreconditionError, NotFoundError } from "@shoal/domain";
import { reportIds } from "@shoal/host-protocol";
import type { TestNats } from "@shoal/testing";

export type Call = { command: string; payload: any };

/** A pretend runtime agent for one host: containers are records, processes are pids. */
export interface FakeAgent {
  host: string;
  calls: Call[];
  /** Makes the next StartContainer fail as the agent does (report + FAILED_PRECONDITION). */
  failNextStart(reason: string, exitCode: number): void;
  /** Reports the container's exit as the agent would. */
  exit(containerId: string, exitCode: number): Promise<void>;
  running: Map<string, { pid: number; paused: boolean }>;
  /** While true, a start is answered but its ContainerStarted report is not published (a report still in flight). */
  withholdStartedReports: boolean;
  stop(): Promise<void>;
}

export function startFakeAgent(opts: { nats: Pick<TestNats, "nc" | "js" | "prefix">; host: string; logger: Logger }): FakeAgent {
  const { nats, host, logger } = opts;
  const calls: Call[] = [];
  const running = new Map<string, { pid: number; paused: boolean }>();
  let nextPid = 1000;
  let failure: { reason: string; exitCode: number } | undefined;
  const report = (type: string, reportId: string, payload: unknown) =>
    publishHostReport(nats.js, { prefix: nats.prefix, host, type, reportId, payload });
  const exit = async (containerId: string, exitCode: number) => {
    const c = running.get(containerId);
    if (!c) return;
    running.delete(containerId);
    await report("ContainerExited", reportIds.containerExited(containerId, c.pid), {
      containerId,
      pid: c.pid,
      exitCode,
      exitedAt: new Date().toISOString(),
      foundAtRecovery: false,
    });
  };
  const live = (id: string) => {
    const c = running.get(id);
    if (!c) throw new FailedPreconditionError(`container ${id} is not running`);
    return c;
  };
  const rec = (command: string) => async (payload: any) => {
    calls.push({ command, payload });
    switch (command) {
      case "StartContainer": {
        if (failure) {
          const f = failure;
          failure = undefined;
          await report("ContainerStartFailed", reportIds.containerStartFailed(payload.containerId, payload.attemptId), {
            containerId: payload.containerId,
            reason: f.reason,
            exitCode: f.exitCode,
          });
          throw new FailedPreconditionError(`start of container ${payload.containerId} failed (exit code ${f.exitCode}): ${f.reason}`);
        }
        const pid = nextPid++;
        running.set(payload.containerId, { pid, paused: false });
        // A bare binary name is found on the host's PATH, as the real agent finds it.
        const path = payload.runtime.path.startsWith("/") ? payload.runtime.path : `/usr/sbin/${payload.runtime.path}`;
        const runtime = { ...payload.runtime, path, args: payload.runtime.args ?? [], binaryPath: path };
        // The real agent's reply carries the same facts as its report.
        const started = { containerId: payload.containerId, pid, ipcNamespaceInode: 4026531839, runtime, startedAt: new Date().toISOString() };
        if (!agent.withholdStartedReports) await report("ContainerStarted", reportIds.containerStarted(payload.containerId, pid, started.startedAt), started);
        return { ...started, alreadyRunning: false };
      }
      case "StopContainer":
        if (!running.has(payload.containerId)) return { alreadyStopped: true };
        await exit(payload.containerId, 143);
        return { alreadyStopped: false, exitCode: 143 };
      case "KillContainer":
        live(payload.containerId);
        if (payload.signal === 9) await exit(payload.containerId, 137);
        return { signal: payload.signal };
      case "PauseContainer":
        live(payload.containerId).paused = true;
        return { paused: true };
      case "UnpauseContainer":
        live(payload.containerId).paused = false;
        return { paused: false };
      case "ExecInContainer":
        live(payload.containerId);
        return { exitCode: 3, stdout: `ran ${payload.args.join(" ")}\n`, stderr: "warn\n" };
      case "ReadLogs":
        return { stdout: "hello\n", stderr: "" };
      case "DeleteContainer":
        if (running.has(payload.containerId)) {
          if (!payload.force) throw new FailedPreconditionError("running");
          await exit(payload.containerId, 137);
        }
        return { deleted: true };
      default:
        throw new NotFoundError(`unexpected ${command}`);
    }
  };
  const names = ["StartContainer", "StopContainer", "KillContainer", "PauseContainer", "UnpauseContainer", "ExecInContainer", "ReadLogs", "DeleteContainer"];
  const server: HostCommandServer = serveHostCommands(nats.nc, {
    prefix: nats.prefix,
    host,
    handlers: Object.fromEntries(names.map((n) => [n, rec(n)])),
    logger: logger,
  });
  const agent: FakeAgent = {
    host,
    calls,
    running,
    exit,
    failNextStart: (reason, exitCode) => (failure = { reason, exitCode }),
    withholdStartedReports: false,
    stop: () => server.stop(),
  };
  return agent;
}
