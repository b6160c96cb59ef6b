import { existsSync, realpathSync, statSync } from "node:fs";
import { mkdir, rm, stat } from "node:fs/promises";
import { join, normalize } from "node:path";
import { FailedPreconditionError, InternalError, NotFoundError, describeStartFailure, isShoalError } from "@shoal/domain";
import type { IpcPlan } from "@shoal/domain";
import { REPORT_TYPES, reportIds } from "@shoal/host-protocol";
import type { CommandPayload, ContainerStartFailedPayload, ContainerStartedPayload } from "@shoal/host-protocol";
import { buildSpec, overlayRootfsMounts } from "@shoal/oci";
import type { Spec } from "@shoal/oci";
import { isUnderAllowedRoots } from "@shoal/config";
import { HOST_LABEL, publishReport } from "./agent-context";
import type { AgentContext } from "./agent-context";
import { removeContainerdLeftovers } from "./container-removal";
import { containerPaths } from "./container-store";
import type { ContainerRecord } from "./container-store";
import { watchExit } from "./exits";
import { mountsAt } from "./host-mounts";
import { lockInRuntime } from "./locked-in-runtime";
import type { LockedInRuntime } from "./container-store";
import { logBinaryUri } from "./log-binary";
import { mountShmForStart, unmountOwnerShm } from "./shm-mounts";
import { prepareRestore } from "./checkpoints";
import { imageRootfs, removeContainerSnapshot, writableLayerOf } from "./images/image-rootfs";
import { resolveUser, rootfsDirs } from "./images/resolve-user";
import type { PreparedRestore } from "./checkpoints";

// StartContainer: the checks, then a sequence of steps that each push their undo, so a
// failed start takes back exactly what it set up (README "The start flow").

const RUNC_V2 = "io.containerd.runc.v2";

/**
 * StartContainer, under the container's lock. A running container answers as before with
 * `alreadyRunning: true`; the same failed `attemptId` sent again gets the same error without
 * a second try. A failed start is undone, reported (ContainerStartFailed) and answered
 * FailedPreconditionError "start of container <id> failed (exit code N): <reason>"
 * (NotFoundError when the owner to join is unknown here; InvalidArgumentError, before
 * anything exists, for a spec that cannot be built). A started container's ContainerStarted
 * report follows the reply.
 */
export function startContainer(ctx: AgentContext, p: CommandPayload<"StartContainer">): Promise<unknown> {
  return ctx.locks.run(p.containerId, async () => {
    const live = ctx.live.get(p.containerId);
    if (live?.exited) await live.exitDone;
    const existing = await ctx.store.get(p.containerId);
    if (existing?.status === "running" && live !== undefined && !live.exited) {
      return {
        containerId: p.containerId,
        pid: live.task.pid,
        ipcNamespaceInode: inodeOrZero(live.task.pid),
        runtime: existing.runtime,
        alreadyRunning: true,
      };
    }
    const failedBefore = ctx.failedStarts.get(p.containerId);
    if (p.attemptId !== undefined && failedBefore?.attemptId === p.attemptId) throw failedBefore.error;
    const attemptId = p.attemptId ?? String(Date.now());
    const progress = { settingUp: false };
    ctx.starting.add(p.containerId);
    try {
      if (existing !== undefined && existing.exit?.cleanedUp !== true) await removeContainerdLeftovers(ctx, p.containerId);
      const started = await createAndStart(ctx, p, existing, progress);
      ctx.failedStarts.delete(p.containerId);
      return started;
    } catch (err) {
      if (isShoalError(err) && err.code === "INVALID_ARGUMENT") throw err;
      const message = err instanceof Error ? err.message : String(err);
      const { reason, exitCode } = describeStartFailure({ message }, message);
      const payload: ContainerStartFailedPayload = { containerId: p.containerId, reason, exitCode };
      await publishReport(ctx, REPORT_TYPES.containerStartFailed, reportIds.containerStartFailed(p.containerId, attemptId), payload).catch(
        (e: unknown) => ctx.log.error({ err: e, containerId: p.containerId }, "could not report ContainerStartFailed"),
      );
      ctx.log.warn({ containerId: p.containerId, exitCode, reason }, "start failed; everything it set up was undone");
      const text = `start of container ${p.containerId} failed (exit code ${exitCode}): ${reason}`;
      // An owner that does not exist stays NOT_FOUND (DESIGN: joining rules); every other failure is a failed precondition.
      const answer =
        !progress.settingUp && isShoalError(err) && err.code === "NOT_FOUND"
          ? new NotFoundError(text, { cause: err })
          : new FailedPreconditionError(text, { cause: err });
      if (p.attemptId !== undefined) ctx.failedStarts.set(p.containerId, { attemptId: p.attemptId, error: answer });
      throw answer;
    } finally {
      ctx.starting.delete(p.containerId);
    }
  });
}

/** The start flow; on any failure everything set up so far is undone before rethrowing. */
async function createAndStart(
  ctx: AgentContext,
  command: CommandPayload<"StartContainer">,
  previous: ContainerRecord | undefined,
  /** Set once the checks passed and setting up begins. */
  progress: { settingUp: boolean },
): Promise<ContainerStartedPayload & { alreadyRunning: false }> {
  const hc = command.hostConfig ?? {};
  const p = {
    ...command,
    readonlyRootfs: command.readonlyRootfs ?? hc.readonlyRootfs,
    mounts: command.mounts ?? hc.mounts,
    securityOpt: command.securityOpt ?? hc.securityOpt,
    privileged: command.privileged ?? hc.privileged,
    memoryBytes: command.memoryBytes ?? hc.memoryBytes,
  };
  const id = p.containerId;
  const paths = containerPaths(ctx.stateRoot, id);
  const rootfsDir = "dir" in p.rootfs ? p.rootfs.dir : undefined;
  // Two local lookups, made synchronously (as the record store's are): through the thread
  // pool, each cost a round trip on the start path (0.2 ms in place, against 0.04).
  const isDir = rootfsDir === undefined || isDirectory(rootfsDir);
  const dirExisted = existsSync(paths.dir);
  await checkIpcPrerequisites(ctx, id, p.ipcPlan);
  if (rootfsDir !== undefined) {
    if (!isDir) throw new FailedPreconditionError(`rootfs ${rootfsDir}: no such directory on host ${ctx.host}`);
    // The api checked the path as written; here, on the host that runs it, symlinks resolved.
    if (p.allowedRootfsRoots !== undefined && !isUnderAllowedRoots(p.allowedRootfsRoots, realpathSync(rootfsDir))) {
      throw new FailedPreconditionError(
        `rootfs ${rootfsDir} resolves to ${realpathSync(rootfsDir)} on host ${ctx.host}, outside the allowed roots (allowed-rootfs-roots: ${p.allowedRootfsRoots.join(", ")})`,
      );
    }
  }
  // An image's rootfs is the container's snapshot (pulled and prepared here when missing);
  // the user is resolved in the files it will run on. Both before anything else is set up.
  const image = "image" in p.rootfs ? await imageRootfs(ctx, id, p.rootfs) : undefined;
  let runtime: LockedInRuntime;
  let spec: Spec;
  try {
    // Always resolved, as Docker's: even root gets the groups /etc/group lists it in.
    const user = await resolveUser(p.user ?? "", image !== undefined ? rootfsDirs(image.mounts) : [rootfsDir!]);
    runtime = await lockInRuntime(ctx.wrappers, p.runtime);
    const cap = ctx.capabilities.runtimes.find((r) => r.name === runtime.name || r.path === runtime.path);
    spec = buildSpec({
      id,
      hostname: id.slice(0, 12),
      process: { args: p.args, ...(p.env ? { env: p.env } : {}), ...(p.cwd ? { cwd: p.cwd } : {}), user },
      ipc: p.ipcPlan,
      ...(p.privileged !== undefined ? { privileged: p.privileged } : {}),
      ...(p.readonlyRootfs !== undefined ? { readonlyRootfs: p.readonlyRootfs } : {}),
      bindMounts: p.mounts ?? [],
      ...(cap ? { rro: cap.rro } : {}),
      securityOpt: p.securityOpt ?? [],
      apparmorEnabled: ctx.capabilities.apparmor.enabled,
      cgroupPrefix: ctx.cgroupPrefix,
      ...(p.memoryBytes !== undefined ? { memoryBytes: p.memoryBytes } : {}),
      ...(p.nanoCpus !== undefined ? { nanoCpus: p.nanoCpus } : {}),
    });
  } catch (err) {
    if (image?.created) await removeContainerSnapshot(ctx, id);
    throw err;
  }

  progress.settingUp = true;
  // Each step that sets something up pushes its undo; on failure they run last-in first-out,
  // each one's own failure logged and the rest still run.
  const undo: Array<() => Promise<unknown>> = [];
  // Runs last: the snapshot a first start made goes with it (a restart keeps its writable layer).
  if (image?.created) undo.push(() => removeContainerSnapshot(ctx, id));
  // An owner's shm tmpfs is made here, alongside the dirs, the record and Containers.Create,
  // which do not need it; Tasks.Create waits for it. Settles, never rejects (see mountShmForStart).
  const ownShm = p.ipcPlan.mode === "shareable" ? mountShmForStart(ctx, id, p.ipcPlan.shmSizeBytes) : undefined;
  try {
    if (ownShm !== undefined) {
      // Runs last: only a tmpfs this attempt made is taken back; one that was there before is left.
      undo.push(async () => {
        const made = await ownShm;
        if (made.ok && made.created) {
          await unmountOwnerShm(ctx, { containerId: id });
        } else if (!made.ok) {
          // A mount that failed may have left its (empty) directories.
          await ctx.os.rmdir(paths.shm).catch(() => undefined);
          await ctx.os.rmdir(paths.mounts).catch(() => undefined);
          if (!dirExisted) await ctx.os.rmdir(paths.dir).catch(() => undefined);
        }
      });
    }
    // Made beside the record and Containers.Create, which do not need them; Tasks.Create does.
    const dirs = Promise.all([paths.upper, paths.work, paths.logs].map((d) => mkdir(d, { recursive: true })));
    undo.push(async () => {
      if (previous !== undefined) {
        // A restart of an exited container: its writable layer, logs and record stay as they were.
        await ctx.store.put(previous);
        return;
      }
      await rm(paths.rootfs, { recursive: true, force: true });
      await rm(paths.logs, { recursive: true, force: true });
      await ctx.store.remove(id);
      if (!dirExisted) await ctx.os.rmdir(paths.dir).catch(() => undefined);
    });
    const record: ContainerRecord = {
      version: 1,
      containerId: id,
      status: "starting",
      runtime,
      ipcPlan: p.ipcPlan,
      spec,
      logs: { stdout: join(paths.logs, "stdout.log"), stderr: join(paths.logs, "stderr.log") },
      ...(p.epoch !== undefined ? { epoch: p.epoch } : {}),
      ...(p.stopOnDisconnectMs !== undefined ? { stopOnDisconnectMs: p.stopOnDisconnectMs } : {}),
      ...(p.stopSignal !== undefined ? { stopSignal: p.stopSignal } : {}),
      ...(image !== undefined ? { snapshot: true } : {}),
    };
    // The record and the containerd container are written together: a crash in between
    // leaves at worst a labelled container without a task, which recovery deletes. The
    // record exists before any task does.
    const [dirsMade, written, created] = await Promise.allSettled([
      dirs,
      ctx.store.put(record),
      ctx.containerd.createContainer({
        id,
        spec,
        runtime: { name: RUNC_V2, options: { binaryName: runtime.binaryPath, root: ctx.runcRoot } },
        labels: { [HOST_LABEL]: ctx.host },
      }),
    ]);
    if (created.status === "fulfilled") undo.push(() => created.value.delete());
    if (dirsMade.status === "rejected") throw dirsMade.reason;
    if (written.status === "rejected") throw written.reason;
    if (created.status === "rejected") throw created.reason;
    const container = created.value;
    if (ownShm !== undefined) {
      const made = await ownShm;
      if (!made.ok) throw made.error;
    }
    // A restore: the checkpoint here and checked, the shm refilled, the images ready (see prepareRestore).
    let restore: PreparedRestore | undefined;
    if (p.restore !== undefined) {
      restore = await prepareRestore(ctx, id, p.restore, {
        ...(ownShm !== undefined ? { shmPath: paths.shm } : {}),
        // An image container's writable layer is its snapshot's; a fresh snapshot is filled from the checkpoint.
        upperPath: image !== undefined ? (writableLayerOf(image.mounts) ?? paths.upper) : paths.upper,
        freshUpper: image !== undefined ? image.created : !dirExisted,
      });
      const made = restore;
      undo.push(() => made.cleanup());
    }
    const task = await container.newTask({
      rootfs:
        image !== undefined
          ? image.mounts
          : overlayRootfsMounts(
              p.readonlyRootfs ? { lowerdir: rootfsDir! } : { lowerdir: rootfsDir!, upperdir: paths.upper, workdir: paths.work },
            ).map((m) => ({ type: m.type, source: m.source, options: [...m.options] })),
      // Both streams into the one log (see README "Logs").
      stdout: logBinaryUri(ctx.logBinary, { out: record.logs.stdout, err: record.logs.stdout }),
      stderr: logBinaryUri(ctx.logBinary, { out: record.logs.stdout, err: record.logs.stdout }),
      ...(restore !== undefined
        ? { runtimeOptions: { binaryName: runtime.binaryPath, root: ctx.runcRoot, criuImagePath: restore.imagePath, criuWorkPath: restore.workPath } }
        : {}),
    });
    undo.push(async () => {
      await task.kill("SIGKILL", { all: true }).catch(() => undefined);
      await task.delete();
    });
    let ipcNamespaceInode: number;
    if (restore === undefined) {
      // The namespaces exist once the task does. Read the inode before the start: a command
      // that exits at once is gone (with its /proc entry) by the time Tasks.Start returns.
      ipcNamespaceInode = ipcInode(task.pid);
      await task.start();
    } else {
      // Tasks.Start restores the process; it exists only from then on.
      try {
        await task.start();
      } catch (err) {
        throw new FailedPreconditionError(`restore from checkpoint ${p.restore!.name} failed: ${await restore.failure(err)}`, { cause: err });
      }
      ipcNamespaceInode = inodeOrZero(task.pid);
      await restore.cleanup();
    }

    record.status = "running";
    record.pid = task.pid;
    record.startedAt = new Date().toISOString();
    delete record.exit;
    await ctx.store.put(record);
    watchExit(ctx, id, task, container);

    const started: ContainerStartedPayload = {
      containerId: id,
      pid: task.pid,
      ipcNamespaceInode,
      runtime: { ...runtime, args: [...runtime.args] },
      startedAt: record.startedAt,
    };
    // Not awaited: the reply carries the same facts, and the api records the start from it;
    // the report is the durable fallback for an answer nobody received (the api knows it by
    // its deterministic id). It is published right after the reply (see afterReply).
    ctx.live.get(id)!.startedReport = afterReply()
      .then(() => publishReport(ctx, REPORT_TYPES.containerStarted, reportIds.containerStarted(id, task.pid, started.startedAt), started))
      .catch((err: unknown) => ctx.log.error({ err, containerId: id }, "could not report ContainerStarted; the reply carries it"));
    return { ...started, alreadyRunning: false };
  } catch (err) {
    for (const step of undo.reverse()) {
      await step().catch((e: unknown) => ctx.log.error({ err: e, containerId: id }, "undo step of a failed start failed"));
    }
    throw err;
  }
}

/** FailedPreconditionError naming what is missing for the plan (NotFoundError for an unknown owner), before anything is set up. */
async function checkIpcPrerequisites(ctx: AgentContext, id: string, plan: IpcPlan): Promise<void> {
  if (plan.mode === "host") {
    if (mountsAt(await ctx.os.readMountInfo(), "/dev/shm").length === 0) {
      throw new FailedPreconditionError("host IPC needs the host's /dev/shm mounted, and it is not");
    }
    return;
  }
  if (plan.mode === "container") {
    const owner = await ctx.store.get(plan.ownerId);
    const live = ctx.live.get(plan.ownerId);
    if (owner === undefined) throw new NotFoundError(`container ${plan.ownerId} not found on host ${ctx.host}`);
    const alive = await stat(`/proc/${plan.ownerPid}/ns/ipc`).then(
      () => true,
      () => false,
    );
    if (owner.status !== "running" || live === undefined || live.task.pid !== plan.ownerPid || !alive) {
      throw new FailedPreconditionError(`container ${plan.ownerId} is not running`);
    }
    if (owner.ipcPlan.mode !== "shareable") {
      throw new FailedPreconditionError(`non-shareable IPC (hint: start ${plan.ownerId} with --ipc shareable)`);
    }
  }
  if (plan.mode === "shareable") {
    // The start mounts the owner's tmpfs itself, only ever at this agent's own path for it.
    const own = containerPaths(ctx.stateRoot, id).shm;
    if (normalize(plan.shmMountPath) !== own) {
      throw new FailedPreconditionError(
        `the plan's shm mount path ${plan.shmMountPath} is not this host's shm path ${own} for container ${id} (state root ${ctx.stateRoot})`,
      );
    }
  }
  if (plan.mode === "container") {
    if (!mountsAt(await ctx.os.readMountInfo(), plan.shmMountPath).some((m) => m.fsType === "tmpfs")) {
      throw new FailedPreconditionError(`shm mount ${plan.shmMountPath} of container ${plan.ownerId} is not mounted`);
    }
  }
}

/**
 * Resolves after the current turn of the event loop. The host-command server sends a reply in
 * the continuation of its handler's promise, in the same turn, so what follows this runs after
 * the reply was handed to the NATS connection: on the wire the reply comes first. No delay.
 */
function afterReply(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Whether `path` is a directory; false for anything that cannot be looked at. */
function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The inode of `pid`'s IPC namespace; InternalError when it cannot be read (the process is gone). */
/** The inode of `pid`'s IPC namespace (one synchronous stat, tens of microseconds). InternalError when it is gone. */
function ipcInode(pid: number): number {
  try {
    return statSync(`/proc/${pid}/ns/ipc`).ino;
  } catch (err) {
    throw new InternalError(`cannot stat the ipc namespace of pid ${pid}`, { cause: err });
  }
}

function inodeOrZero(pid: number): number {
  try {
    return ipcInode(pid);
  } catch {
    return 0;
  }
}
