import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import {
  AbortedError,
  DEFAULT_KILL_SIGNAL,
  FailedPreconditionError,
  NotFoundError,
  describeStartFailure,
  isShoalError,
  parseSignal,
} from "@shoal/domain";
import type { CommandPayload } from "@shoal/host-protocol";
import { execProcessSpec } from "@shoal/oci";
import type { Spec } from "@shoal/oci";
import type { AgentContext, LiveContainer } from "./agent-context";
import { filterPsOutput, runPs } from "./container-top";
import type { TopTable } from "./container-top";
import { ignoreNotFound, removeContainerdLeftovers, removeContainerFiles } from "./container-removal";
import { logBinaryUri } from "./log-binary";

// The commands on a container other than its start: stop, kill, pause/unpause, exec, top,
// logs, delete and list. Each answers with the README's "Commands" contract.

/** The live, not yet exited container `id`; FailedPreconditionError "container <id> is not running" otherwise. */
function requireLive(ctx: AgentContext, id: string): LiveContainer {
  const live = ctx.live.get(id);
  if (live === undefined || live.exited) throw new FailedPreconditionError(`container ${id} is not running`);
  return live;
}

/**
 * The stop signal (the image's, else SIGTERM), then SIGKILL to all after `timeoutSeconds` (default 10); a paused container is
 * killed and thawed at once. Resolves once the exit is finished (recorded, reported, cleaned
 * up). A container not running answers `alreadyStopped: true`; NotFoundError without a record.
 */
export function stopContainer(ctx: AgentContext, p: CommandPayload<"StopContainer">): Promise<unknown> {
  return ctx.locks.run(p.containerId, async () => {
    const live = ctx.live.get(p.containerId);
    if (live?.exited) await live.exitDone;
    if (live === undefined || live.exited) {
      const r = await ctx.store.get(p.containerId);
      if (r === undefined) throw new NotFoundError(`container ${p.containerId} not found on host ${ctx.host}`);
      return { alreadyStopped: true, exitCode: r.exit?.exitCode };
    }
    if (live.paused) {
      // A frozen process cannot act on SIGTERM: kill it and thaw it so it can die (as Docker does).
      await live.task.kill("SIGKILL", { all: true }).catch(ignoreNotFound);
      await live.task.resume().catch(() => undefined);
      live.paused = false;
      await live.exitDone;
      const r = await ctx.store.get(p.containerId);
      return { alreadyStopped: false, exitCode: r?.exit?.exitCode, killed: true };
    }
    const timeoutMs = (p.timeoutSeconds ?? 10) * 1000;
    // The image's StopSignal (Docker's Config.StopSignal), else SIGTERM.
    const stopSignal = (await ctx.store.get(p.containerId))?.stopSignal ?? "SIGTERM";
    await live.task.kill(stopSignal as NodeJS.Signals).catch(ignoreNotFound);
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      live.exitDone.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!exited) await live.task.kill("SIGKILL", { all: true }).catch(ignoreNotFound);
    await live.exitDone;
    const r = await ctx.store.get(p.containerId);
    return { alreadyStopped: false, exitCode: r?.exit?.exitCode, killed: !exited };
  });
}

/** Sends a signal as Docker takes it (default SIGKILL); InvalidArgumentError for an unknown one. */
export async function killContainer(ctx: AgentContext, p: CommandPayload<"KillContainer">): Promise<{ signal: number }> {
  const signal = parseSignal(p.signal ?? DEFAULT_KILL_SIGNAL);
  const live = requireLive(ctx, p.containerId);
  // A paused container gets the signal when it is thawed (as with Docker).
  await live.task.kill(signal, { all: p.all ?? false });
  return { signal };
}

/** PauseContainer (`pause`) or UnpauseContainer: the freezer, under the container's lock. */
export function pauseContainer(ctx: AgentContext, p: { containerId: string }, pause: boolean): Promise<{ paused: boolean }> {
  return ctx.locks.run(p.containerId, async () => {
    const live = requireLive(ctx, p.containerId);
    if (pause) await live.task.pause();
    else await live.task.resume();
    live.paused = pause;
    return { paused: pause };
  });
}

/**
 * Runs a process in the container with its spec's profile, caps and user; output is read
 * from files after Tasks.DeleteProcess. Past `timeoutMs` (default 30 s) it is killed and the
 * answer is AbortedError; a paused container is refused; a failure to run it is
 * FailedPreconditionError "exec in <id> failed (exit code N): <reason>".
 */
export async function execInContainer(ctx: AgentContext, p: CommandPayload<"ExecInContainer">): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const live = requireLive(ctx, p.containerId);
  if (live.paused) throw new FailedPreconditionError(`container ${p.containerId} is paused, unpause the container before exec`);
  const record = await ctx.store.get(p.containerId);
  if (record === undefined) throw new NotFoundError(`container ${p.containerId} not found on host ${ctx.host}`);
  const execId = `exec-${randomBytes(8).toString("hex")}`;
  const out = join(ctx.runDir, "exec", `${execId}.out`);
  const errPath = join(ctx.runDir, "exec", `${execId}.err`);
  const spec = execProcessSpec(record.spec as Spec, {
    args: p.args,
    ...(p.env ? { env: p.env } : {}),
    ...(p.cwd ? { cwd: p.cwd } : {}),
  });
  try {
    const uri = logBinaryUri(ctx.logBinary, { out, err: errPath });
    const proc = await live.task.exec({ execId, spec, stdout: uri, stderr: uri });
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    try {
      await proc.start();
      const timeoutMs = p.timeoutMs ?? 30_000;
      const exit = await Promise.race([
        proc.wait(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            timedOut = true;
            reject(new AbortedError(`exec in ${p.containerId} did not finish within ${timeoutMs} ms and was killed`));
          }, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      // DeleteProcess waits for the shim to finish copying the output: read after it.
      await proc.delete();
      return { exitCode: exit.exitStatus, stdout: await readText(out), stderr: await readText(errPath) };
    } catch (err) {
      clearTimeout(timer);
      if (timedOut) {
        await proc.kill("SIGKILL").catch(() => undefined);
        await proc.wait().catch(() => undefined);
      }
      await proc.delete().catch((e: unknown) => ctx.log.warn({ err: e, execId }, "could not delete exec process"));
      throw err;
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (isShoalError(err) && err.code !== "INTERNAL") throw err;
    const { exitCode, reason } = describeStartFailure({ message }, message);
    throw new FailedPreconditionError(`exec in ${p.containerId} failed (exit code ${exitCode}): ${reason}`, { cause: err });
  } finally {
    await rm(out, { force: true });
    await rm(errPath, { force: true });
  }
}

/** `docker top`: ps over the host, cut to the container's processes. FailedPreconditionError when it does not run here. */
export async function topContainer(ctx: AgentContext, p: CommandPayload<"TopContainer">): Promise<TopTable> {
  const live = requireLive(ctx, p.containerId);
  const [pids, output] = await Promise.all([live.task.pids(), runPs(p.psArgs)]);
  return filterPsOutput(output, pids);
}

/** The container's log (README "Logs"), its last `tail` lines when given; NotFoundError without a record, also when it was deleted during the read. */
export async function readLogs(ctx: AgentContext, p: CommandPayload<"ReadLogs">): Promise<{ stdout: string; stderr: string }> {
  const record = await ctx.store.get(p.containerId);
  if (record === undefined) throw new NotFoundError(`container ${p.containerId} not found on host ${ctx.host}`);
  const tail = (text: string) => (p.tail === undefined ? text : lastLines(text, p.tail));
  const [stdout, stderr] = await Promise.all([readText(record.logs.stdout), readText(record.logs.stderr)]);
  // A DeleteContainer running meanwhile removes the record before the files: what was read
  // may be cut short, so it is not an answer (the control plane kept a --rm container's output).
  if ((await ctx.store.get(p.containerId)) === undefined) throw new NotFoundError(`container ${p.containerId} not found on host ${ctx.host}`);
  return { stdout: tail(stdout), stderr: tail(stderr) };
}

/**
 * Task, container, overlay dirs, logs and record; an owner's shm stays until UnmountShm. A
 * running container is FailedPreconditionError unless `force` (then SIGKILL, and its exit is
 * finished first). Forgets a failed start attempt. `deleted: false` when there was no record.
 */
export function deleteContainer(ctx: AgentContext, p: CommandPayload<"DeleteContainer">): Promise<{ deleted: boolean }> {
  return ctx.locks.run(p.containerId, async () => {
    const id = p.containerId;
    ctx.failedStarts.delete(id);
    const live = ctx.live.get(id);
    if (live !== undefined) {
      if (!live.exited && !p.force) throw new FailedPreconditionError(`container ${id} is running: stop it first or force the removal`);
      if (!live.exited) await live.task.kill("SIGKILL", { all: true }).catch(ignoreNotFound);
      await live.exitDone;
    }
    const record = await ctx.store.get(id);
    if (record?.status === "exited" && record.exit?.cleanedUp === true) {
      await removeContainerFiles(ctx, id);
      return { deleted: true };
    }
    await removeContainerdLeftovers(ctx, id);
    await removeContainerFiles(ctx, id);
    return { deleted: record !== undefined };
  });
}

/** Every record, with whether its container is live. */
export async function listContainers(ctx: AgentContext): Promise<unknown> {
  const { records } = await ctx.store.list();
  return {
    containers: records.map((r) => ({
      containerId: r.containerId,
      status: r.status,
      pid: r.pid,
      live: ctx.live.has(r.containerId),
      runtime: r.runtime,
      ipcMode: r.ipcPlan.mode,
      exit: r.exit,
    })),
  };
}

/** A file's text; "" for a file that cannot be read (none written yet). */
async function readText(path: string): Promise<string> {
  return readFile(path, "utf8").catch(() => "");
}

function lastLines(text: string, n: number): string {
  if (n === 0) return "";
  const lines = text.split("\n");
  const trailing = lines[lines.length - 1] === "" ? lines.pop() : undefined;
  return lines.slice(-n).join("\n") + (trailing !== undefined ? "\n" : "");
}
