/**
 * The Containers API's operations, independent of gRPC: each resolves the container,
 * decides through the container decider (so a refusal appends nothing), and talks to the
 * container's host through `hostCommand`. Queries read the `containers` projection.
 */
import { stat, realpath } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import { isRootfsAllowed, resolveRuntime } from "@shoal/config";
import type { ConfigSnapshot } from "@shoal/config";
import {
  stopOnDisconnectRefusal,
  AbortedError,
  AlreadyExistsError,
  CONTAINER_EVENT_SCHEMA_VERSIONS,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
  containerDecider,
  errorFromCode,
  isShoalError,
  isContainerId,
  containerStreamId,
  hostStreamId,
  ipcJoinRefusal,
  ipcJoinTargetOf,
  joinedContainerRef,
  normalizeContainerName,
  parseHostConfig,
  shortContainerId,
  mergeImageConfig,
} from "@shoal/domain";
import type { ContainerCommand, ContainerDefinition, ContainerRunFacts, ContainerSource, CreateContainer, MergedRunConfig, HostConfig, HostConfigInput, IpcJoinTarget, RestoreFrom } from "@shoal/domain";
import type { EventEnvelope } from "@shoal/bus";
import { inspectImage, repoDigestOf } from "./images/image-operations";
import type { Kysely } from "kysely";
import { hostCommand, newContainerId, nowIso, runContainerCommand } from "./api-context";
import type { ApiContext } from "./api-context";
import type { ApiDatabase } from "./api-database";
import { foldContainer, readContainer } from "./container-record";
import type { ContainerRecord } from "./container-record";
import { getContainerRow, listContainerRows, membersOf, resolveContainer, resolveContainerId } from "./container-queries";
import type { ContainerRow } from "./container-queries";
import { encodePageToken, parseListQuery } from "./list-query";
import { lastLines, readRemovedOutput, saveRemovedOutput } from "./removed-output";
import { normalizeRef } from "./container-ref";
import { replicate, restoreFrom } from "./checkpoints/checkpoint-operations";

// ---- create -------------------------------------------------------------------------

export type CreateRequest = {
  name: string;
  rootfs: string;
  image: string;
  args: string[];
  env: string[];
  cwd: string;
  hostConfig: HostConfigInput;
  host: string;
  /** `--entrypoint`; `entrypointSet` with an empty list is `--entrypoint ""`. */
  entrypoint?: string[];
  entrypointSet?: boolean;
  /** `-u`; empty: the image's, else root. */
  user?: string;
};

/**
 * Creates a container. Checks, in order, with nothing appended on refusal:
 * INVALID_ARGUMENT (name, source, args, env, host config incl. a size on a member or with
 * host, unknown runtime, rootfs missing), FAILED_PRECONDITION (rootfs outside
 * `allowed-rootfs-roots`), NOT_FOUND `No such container: x` for `container:<x>` naming no
 * container, then the name (ALREADY_EXISTS, Docker's "Conflict." message), reserved in the
 * same transaction as ContainerCreated. As Docker, whether x runs and is shareable is
 * checked at start (ipc-join.ts), so a member may be created before its owner runs.
 */
export async function createContainer(ctx: ApiContext, req: CreateRequest): Promise<{ id: string; name: string }> {
  if (req.cwd !== "" && !/^\/[^\0]*$/.test(req.cwd)) throw new InvalidArgumentError(`invalid cwd: ${req.cwd} (want an absolute path)`);
  if (req.host !== "") hostStreamId(req.host); // InvalidArgumentError `invalid host name: <h>`
  const snapshot = ctx.config.current();
  const id = newContainerId();
  const name = req.name === "" ? `shoal-${shortContainerId(id)}` : normalizeContainerName(req.name);
  if (req.rootfs !== "" && req.image !== "") throw new InvalidArgumentError("give either a rootfs directory or an image, not both");
  if (req.rootfs === "" && req.image === "") throw new InvalidArgumentError("a container needs a rootfs directory or an image");
  const user = { cmd: req.args, env: req.env, workingDir: req.cwd, user: req.user ?? "", ...(req.entrypointSet ? { entrypoint: req.entrypoint ?? [] } : {}) };
  let source: ContainerSource;
  let run: MergedRunConfig;
  if (req.rootfs !== "") {
    source = { kind: "rootfs", path: req.rootfs };
    run = mergeImageConfig({}, user);
  } else {
    // As Docker's daemon: the image must be here (a host holds it); the CLI pulls on NOT_FOUND and asks again.
    const image = await inspectImage(ctx, req.image);
    const digest = repoDigestOf(image, req.image);
    source = { kind: "image", ref: req.image, id: image.id, ...(digest !== undefined ? { digest } : {}) };
    run = mergeImageConfig(image.config, user);
  }

  const command: CreateContainer = {
    type: "CreateContainer",
    data: { containerId: id, name, hostConfig: req.hostConfig, source, args: run.args, env: run.env, createdAt: nowIso() },
  };
  // Every argument check of the decider, before anything else is looked at.
  const events = containerDecider.decide(command, containerDecider.initialState());
  const hostConfig = parseHostConfig(req.hostConfig);
  if (hostConfig.runtime !== undefined) resolveRuntime(snapshot, hostConfig.runtime, "/");
  const tooLate = stopOnDisconnectRefusal(hostConfig.stopOnDisconnectMs, snapshot.config.heartbeatTimeoutMs);
  if (tooLate !== undefined) throw tooLate;
  if (source.kind === "rootfs") checkRootfs(snapshot, source.path);
  const ownerRef = joinedContainerRef(hostConfig.ipcMode);
  if (ownerRef !== undefined) await resolveContainer(ctx.db, ownerRef); // NOT_FOUND `No such container: <ref>`

  const streamId = containerStreamId(id);
  const created = events.map((e) => ({
    eventId: randomUUID(),
    type: e.type,
    schemaVersion: CONTAINER_EVENT_SCHEMA_VERSIONS[e.type],
    // Added fields (see ContainerRecord): the scheduler honours `host`, the dispatcher passes `cwd` and `run`.
    data: { ...e.data, ...(run.workingDir !== "" ? { cwd: run.workingDir } : {}), ...(req.host !== "" ? { host: req.host } : {}), run: runFacts(run) },
    metadata: { actor: "api" },
  }));
  await ctx.store.transaction(ctx.db, async (trx) => {
    const reserved = await trx
      .insertInto("container_names")
      .values({ name, container_id: id })
      .onConflict((oc) => oc.column("name").doNothing())
      .returning("name")
      .executeTakeFirst();
    if (reserved === undefined) throw nameConflict(name, await nameHolder(trx, name));
    await ctx.store.appendToStream(
      streamId,
      "no-stream",
      created,
      { trx },
    );
  });
  return { id, name };
}

/** What ContainerCreated records of the merged config beside args, env and cwd (inspect's Config). */
function runFacts(run: MergedRunConfig): ContainerRunFacts {
  return {
    entrypoint: run.entrypoint,
    cmd: run.cmd,
    ...(run.user !== "" ? { user: run.user } : {}),
    ...(run.stopSignal !== "" ? { stopSignal: run.stopSignal } : {}),
  };
}

/** The id of the container holding `name`, if any. */
async function nameHolder(trx: Kysely<ApiDatabase>, name: string): Promise<string | undefined> {
  return (await trx.selectFrom("container_names").select("container_id").where("name", "=", name).executeTakeFirst())?.container_id;
}

/** Docker's ALREADY_EXISTS message for a name `holder` holds. */
function nameConflict(name: string, holder: string | undefined): AlreadyExistsError {
  return new AlreadyExistsError(
    `Conflict. The container name "/${name}" is already in use by container "${holder ?? "?"}". You have to remove (or rename) that container to be able to reuse that name.`,
  );
}

/**
 * `--rootfs DIR` as the api can check it: an absolute path under `allowed-rootfs-roots`
 * (FAILED_PRECONDITION otherwise), compared as written. Whether it exists, is a directory
 * and still lies under the roots once symlinks are resolved is checked by the host that
 * runs the container, at start: the api's own filesystem is the wrong machine in a fleet.
 */
function checkRootfs(snapshot: ConfigSnapshot, dir: string): void {
  if (!isRootfsAllowed(snapshot.config, dir)) {
    throw new FailedPreconditionError(
      `rootfs ${dir} is not under an allowed root (allowed-rootfs-roots: ${snapshot.config.allowedRootfsRoots.join(", ")})`,
    );
  }
}

/**
 * For a `container:<x>` member: x as a join target now (ipc-join.ts), or undefined when
 * no container is named x; undefined `ipcOwner` too for a container that joins nobody.
 */
async function ipcOwnerOf(ctx: ApiContext, hostConfig: HostConfig, snapshot: ConfigSnapshot): Promise<{ ipcOwner?: IpcJoinTarget }> {
  const ref = joinedContainerRef(hostConfig.ipcMode);
  if (ref === undefined) return {};
  let ownerId: string;
  try {
    ownerId = (await resolveContainer(ctx.db, ref)).id;
  } catch (err) {
    if (err instanceof NotFoundError) return {};
    throw err;
  }
  const target = ipcJoinTargetOf((await readContainer(ctx.store, ownerId)).state, snapshot.config.defaultIpcMode);
  return target === undefined ? {} : { ipcOwner: target };
}

// ---- start --------------------------------------------------------------------------

export type StartResult = {
  id: string;
  alreadyRunning: boolean;
  failed: boolean;
  exitCode: number;
  error: string;
  pid: number;
  host: string;
};

/**
 * Starts a container and returns once it runs or its start failed (Docker's synchronous
 * start). Already running: `alreadyRunning`. Refusals are the decider's (paused: "try
 * unpause", removing, dead, checkpoint without experimental, and for a member the join
 * rule against its owner as it is now); a `--rm` container whose join is refused is
 * removed, as Docker removes it. UNAVAILABLE when no outcome is recorded within the start
 * timeout.
 */
export async function startContainer(
  ctx: ApiContext,
  ref: string,
  checkpoint: string,
  opts: {
    /** Hosts the start must not be placed on (a drain moving the container off its host). */
    avoidHosts?: string[];
    /** The host the start must be placed on (`start --host`). */
    host?: string;
    /** For a member of a group being restored: its owner's group checkpoint, as found. */
    restore?: RestoreFrom;
  } = {},
): Promise<StartResult> {
  const began = process.hrtime.bigint();
  const snapshot = ctx.config.current();
  const experimental = snapshot.config.experimental;
  if (checkpoint !== "" && !experimental) {
    // Checked before the container is looked up, as Docker does (the decider says the same).
    throw new FailedPreconditionError("checkpoint restore is only supported with experimental mode enabled");
  }
  if (opts.host !== undefined && opts.host !== "") hostStreamId(opts.host); // InvalidArgumentError `invalid host name: <h>`
  const id = await resolveContainerId(ctx.db, ref);
  // The checkpoint a start restores: the group's, for a member; else the container's own.
  const found: (RestoreFrom & { memberIds?: string[] }) | undefined =
    checkpoint === "" ? undefined : (opts.restore ?? (await restoreFrom(ctx, id, checkpoint)));
  let restore: RestoreFrom | undefined = found === undefined ? undefined : { name: found.name, digest: found.digest, host: found.host, replicated: found.replicated, ...(found.ownerId !== undefined ? { ownerId: found.ownerId } : {}) };
  const elsewhere = (opts.host && opts.host !== restore?.host) || (restore !== undefined && opts.avoidHosts?.includes(restore.host));
  if (restore !== undefined && !restore.replicated && elsewhere) {
    // Restored on another host: its own host copies it to the replica store first.
    await replicate(ctx, id, restore.name);
    restore = { ...restore, replicated: true };
  }
  // A checkpoint only its own host holds is restored there.
  const host = opts.host || (restore !== undefined && !restore.replicated ? restore.host : undefined);
  const before = await readContainer(ctx.store, id);
  const s = before.state;
  const owner = s.status === "absent" || s.status === "removed" ? {} : await ipcOwnerOf(ctx, s.container.hostConfig, snapshot);
  const watch = ctx.watcher.watch(id);
  let after: ContainerRecord;
  let appended: boolean;
  try {
    ({ record: after, appended } = await decideAndAppend(ctx, before, {
      type: "StartContainer",
      // The snapshot this start is decided under: every later step of it uses this version (RCU).
      data: {
        containerId: id,
        now: nowIso(),
        experimental,
        configVersion: snapshot.version,
        ...(checkpoint !== "" ? { fromCheckpoint: checkpoint } : {}),
        ...(restore !== undefined ? { checkpoint: restore } : {}),
        ...(host !== undefined ? { host } : {}),
        ...(opts.avoidHosts !== undefined ? { avoidHosts: opts.avoidHosts } : {}),
        ...owner,
      },
    }));
  } catch (err) {
    watch.close();
    if (s.status !== "absent" && s.status !== "removed" && s.container.hostConfig.autoRemove && isJoinRefusal(err, s.container, owner.ipcOwner)) {
      await removeContainer(ctx, id, false).catch(() => undefined);
    }
    throw err;
  }
  const state = after.state;
  if (state.status === "running") {
    watch.close();
    return { id, alreadyRunning: true, failed: false, exitCode: 0, error: "", pid: state.process.pid, host: state.host };
  }
  // Only a record this call appended to is known to be current since the watch began.
  const outcome = await watch.until(startOutcome, ctx.timeouts.startMs, `start of container ${ref}`, startOutcomeFromEvent, appended ? after : undefined);
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  ctx.metrics.startDuration.observe({ outcome: outcome.failed ? "failed" : "running" }, seconds);
  if (!outcome.failed && found?.memberIds !== undefined && found.memberIds.length > 0 && appended) {
    return { id, ...outcome, ...(await restoreMembers(ctx, id, checkpoint, restore!, found.memberIds)) };
  }
  return { id, ...outcome };
}

/**
 * A group checkpoint's members, each restored into its owner's restored IPC namespace (the
 * owner runs again): one after the other, through the same start. The first that fails
 * fails the group's start, named; the ones restored keep running.
 */
async function restoreMembers(
  ctx: ApiContext,
  ownerId: string,
  checkpoint: string,
  restore: RestoreFrom,
  memberIds: readonly string[],
): Promise<Partial<StartResult>> {
  for (const memberId of memberIds) {
    let failure: string | undefined;
    try {
      const r = await startContainer(ctx, memberId, checkpoint, { restore: { ...restore, ownerId } });
      if (r.failed) failure = r.error;
    } catch (err) {
      failure = isShoalError(err) || err instanceof Error ? err.message : String(err);
    }
    if (failure !== undefined) return { failed: true, exitCode: 125, error: `the owner was restored, but member ${memberId} of its group was not: ${failure}` };
  }
  return {};
}

/**
 * The restart policy's start of a `restarting` container (the restarter's, when due): the
 * same decision as a user's start, under the config in force, with `automatic` set, so it
 * counts a restart and starts only a container still waiting for one. `eventIdOf` makes
 * it idempotent per plan: a redelivered plan appends nothing again. Returns whether a
 * start was requested. Nobody waits for its outcome; it is recorded as any start's.
 */
export async function requestAutomaticStart(ctx: ApiContext, id: string, eventIdOf: (index: number) => string): Promise<boolean> {
  const snapshot = ctx.config.current();
  const { state } = await readContainer(ctx.store, id);
  if (state.status !== "restarting") return false;
  const owner = await ipcOwnerOf(ctx, state.container.hostConfig, snapshot);
  const result = await runContainerCommand(
    ctx,
    {
      type: "StartContainer",
      data: { containerId: id, now: nowIso(), experimental: snapshot.config.experimental, configVersion: snapshot.version, automatic: true, ...owner },
    },
    { eventIdOf, metadata: { actor: "api-restarter" } },
  );
  return result.appended.length > 0;
}

/** True when `err` is the join rule's refusal of this member, as the decider raised it. */
function isJoinRefusal(err: unknown, container: ContainerDefinition, ipcOwner: IpcJoinTarget | undefined): boolean {
  const ref = joinedContainerRef(container.hostConfig.ipcMode);
  return ref !== undefined && err instanceof Error && ipcJoinRefusal(ref, container.id, ipcOwner)?.message === err.message;
}

/**
 * Decides `command` on the record already read and appends with its version (one read
 * for the whole request); when another writer got there first, falls back to a fresh
 * read → decide → append. Returns the record after the decided events and whether this
 * call appended them with the version it read (then the record is exact as of the append).
 */
async function decideAndAppend(
  ctx: ApiContext,
  record: ContainerRecord,
  command: ContainerCommand,
): Promise<{ record: ContainerRecord; appended: boolean }> {
  const events = containerDecider.decide(command, record.state);
  if (events.length === 0) return { record, appended: false };
  const recorded = events.map((e, i) => ({
    eventId: randomUUID(),
    type: e.type,
    schemaVersion: CONTAINER_EVENT_SCHEMA_VERSIONS[e.type],
    data: e.data,
    metadata: { actor: "api" },
    streamVersion: record.version + 1 + i,
  }));
  try {
    await ctx.store.appendToStream(
      containerStreamId(command.data.containerId),
      record.version === 0 ? "no-stream" : record.version,
      recorded.map(({ streamVersion: _, ...e }) => e),
    );
  } catch (err) {
    if (!(err instanceof AbortedError)) throw err;
    await runContainerCommand(ctx, command);
    return { record: await readContainer(ctx.store, command.data.containerId), appended: false };
  }
  return { record: foldContainer(recorded, record), appended: true };
}

/** The outcome straight from the published ContainerStarted / ContainerStartFailed, when it is the one awaited. */
function startOutcomeFromEvent(event: EventEnvelope, last: ContainerRecord): Omit<StartResult, "id"> | undefined {
  if (event.streamVersion <= last.lastStartRequestedVersion) return undefined;
  if (event.type === "ContainerStarted" && last.lastHost !== undefined) {
    const d = event.data as { pid: number };
    return { alreadyRunning: false, failed: false, exitCode: 0, error: "", pid: d.pid, host: last.lastHost };
  }
  if (event.type === "ContainerStartFailed") {
    const d = event.data as { exitCode: number; reason: string };
    return { alreadyRunning: false, failed: true, exitCode: d.exitCode, error: d.reason, pid: 0, host: last.lastHost ?? "" };
  }
  return undefined;
}

function startOutcome(r: ContainerRecord): Omit<StartResult, "id"> | undefined {
  const o = r.lastOutcome;
  if (o !== undefined && o.version > r.lastStartRequestedVersion) {
    if (o.kind === "started") {
      return { alreadyRunning: false, failed: false, exitCode: 0, error: "", pid: o.pid, host: o.host ?? "" };
    }
    return { alreadyRunning: false, failed: true, exitCode: o.exitCode, error: o.reason, pid: 0, host: r.lastHost ?? "" };
  }
  const st = r.state.status;
  if (st === "removed" || st === "absent" || st === "dead" || (st === "removing" && r.state.process === undefined && r.version > r.lastStartRequestedVersion)) {
    return { alreadyRunning: false, failed: true, exitCode: 125, error: `container was ${st === "dead" ? "marked dead" : "removed"} while starting`, pid: 0, host: "" };
  }
  return undefined;
}

// ---- restart, rename -----------------------------------------------------------------

/**
 * `docker restart`: stops a running or paused container (as stopContainer, SIGKILL after
 * `timeoutSeconds`), then starts it (as startContainer); a container that does not run
 * is only started. Returns the start's outcome.
 */
export async function restartContainer(ctx: ApiContext, ref: string, timeoutSeconds: number): Promise<StartResult> {
  const { id } = await resolveContainer(ctx.db, ref);
  await stopById(ctx, id, timeoutSeconds);
  return startContainer(ctx, id, "");
}

/**
 * Renames a container: ContainerRenamed, with the new name reserved and the old one freed
 * in the same transaction. INVALID_ARGUMENT for an invalid name or the current one,
 * ALREADY_EXISTS when another container holds it (Docker's messages, after its "Error when
 * allocating new name: " where Docker says it), FAILED_PRECONDITION while it is removed or dead.
 */
export async function renameContainer(ctx: ApiContext, ref: string, newName: string): Promise<void> {
  const { id } = await resolveContainer(ctx.db, ref);
  const r = await readContainer(ctx.store, id);
  let events;
  try {
    events = containerDecider.decide({ type: "RenameContainer", data: { containerId: id, now: nowIso(), newName } }, r.state);
  } catch (err) {
    if (err instanceof InvalidArgumentError && err.message.startsWith("Invalid container name")) {
      throw new InvalidArgumentError(`Error when allocating new name: ${err.message}`, { cause: err });
    }
    throw err;
  }
  const renamed = events.find((e) => e.type === "ContainerRenamed");
  if (renamed === undefined) return;
  await ctx.store.transaction(ctx.db, async (trx) => {
    // The name is held by the holder's one row (container_names: unique name, unique container).
    const holder = await nameHolder(trx, renamed.data.newName);
    if (holder !== undefined) throw new AlreadyExistsError(`Error when allocating new name: ${nameConflict(renamed.data.newName, holder).message}`);
    await trx.updateTable("container_names").set({ name: renamed.data.newName }).where("container_id", "=", id).execute();
    await ctx.store.appendToStream(
      containerStreamId(id),
      r.version,
      events.map((e) => ({ eventId: randomUUID(), type: e.type, schemaVersion: CONTAINER_EVENT_SCHEMA_VERSIONS[e.type], data: e.data, metadata: { actor: "api" } })),
      { trx },
    );
  });
}

// ---- stop, kill, pause, unpause -----------------------------------------------------

/**
 * Stops a running or paused container (SIGTERM, SIGKILL after `timeoutSeconds`) and
 * returns once the host has stopped it. A container with no process is left as it is
 * (Docker's "not modified"); one that is starting is FAILED_PRECONDITION.
 */
export async function stopContainer(ctx: ApiContext, ref: string, timeoutSeconds: number): Promise<void> {
  const { id } = await resolveContainer(ctx.db, ref);
  await stopById(ctx, id, timeoutSeconds);
}

export async function stopById(ctx: ApiContext, id: string, timeoutSeconds: number): Promise<void> {
  const before = await readContainer(ctx.store, id);
  // A frozen task cannot take SIGTERM (nor, on cgroup v1, SIGKILL): thaw it first.
  if (before.state.status === "paused") await unpauseById(ctx, id);
  const watch = ctx.watcher.watch(id);
  try {
    const result = await runContainerCommand(ctx, { type: "StopContainer", data: { containerId: id, now: nowIso(), timeoutSeconds } });
    // A container waiting for its restart has no process: the stop only cancels the restart.
    if (result.appended.length === 0 || before.state.status === "restarting") return;
    const host = hostOf(result.state);
    const wait = timeoutSeconds < 0 ? 24 * 3600 : timeoutSeconds;
    await hostCommand(ctx, host, "StopContainer", { containerId: id, timeoutSeconds: Math.max(0, wait) }, (wait + 30) * 1000);
    // The agent has stopped it; give its exit report a moment to be recorded so a
    // following inspect shows it exited. Not an error if it is slow.
    await watch
      .until((r) => (r.state.status === "running" || r.state.status === "paused" ? undefined : true), 10_000, "recording the exit")
      .catch(() => undefined);
  } finally {
    watch.close();
  }
}

/**
 * Sends a signal ("" = SIGKILL). Every refusal comes back as Docker words it, after its
 * `Cannot kill container: <ref>: ` (NOT_FOUND `No such container: <ref>`,
 * FAILED_PRECONDITION `Container <id> is not running`), with the same code.
 */
export async function killContainer(ctx: ApiContext, ref: string, signal: string): Promise<void> {
  try {
    const { id } = await resolveContainer(ctx.db, ref);
    const result = await runContainerCommand(ctx, { type: "KillContainer", data: { containerId: id, now: nowIso(), signal } });
    const event = result.appended.find((e) => e.type === "ContainerKillRequested");
    if (event === undefined) return;
    await hostCommand(ctx, hostOf(result.state), "KillContainer", { containerId: id, signal: event.data.signal });
  } catch (err) {
    if (!isShoalError(err)) throw err;
    throw errorFromCode(err.code, `Cannot kill container: ${ref}: ${err.message}`, { cause: err });
  }
}

/** Pauses (freezes) a running container; if the host refuses, the pause is taken back. */
export async function pauseContainer(ctx: ApiContext, ref: string): Promise<void> {
  const { id } = await resolveContainer(ctx.db, ref);
  const result = await runContainerCommand(ctx, { type: "PauseContainer", data: { containerId: id, now: nowIso() } });
  try {
    await hostCommand(ctx, hostOf(result.state), "PauseContainer", { containerId: id });
  } catch (err) {
    await runContainerCommand(ctx, { type: "UnpauseContainer", data: { containerId: id, now: nowIso() } }).catch(() => undefined);
    throw err;
  }
}

export async function unpauseContainer(ctx: ApiContext, ref: string): Promise<void> {
  const { id } = await resolveContainer(ctx.db, ref);
  await unpauseById(ctx, id);
}

async function unpauseById(ctx: ApiContext, id: string): Promise<void> {
  const result = await runContainerCommand(ctx, { type: "UnpauseContainer", data: { containerId: id, now: nowIso() } });
  try {
    await hostCommand(ctx, hostOf(result.state), "UnpauseContainer", { containerId: id });
  } catch (err) {
    await runContainerCommand(ctx, { type: "PauseContainer", data: { containerId: id, now: nowIso() } }).catch(() => undefined);
    throw err;
  }
}

function hostOf(state: { status: string } & { host?: string }): string {
  if (state.host === undefined) throw new FailedPreconditionError("the container has no host");
  return state.host;
}

// ---- remove -------------------------------------------------------------------------

/**
 * Removes a container. Refused (FAILED_PRECONDITION) while running unless `force`; an
 * IPC owner with running members is refused unless `force`, which stops the members
 * first. A forced removal of a container already being removed finishes that removal.
 */
export async function removeContainer(ctx: ApiContext, ref: string, force: boolean): Promise<void> {
  const { id, name } = await resolveContainer(ctx.db, ref);
  const r = await readContainer(ctx.store, id);
  // A forced remove of a container already being removed finishes that removal.
  if (!(r.state.status === "removing" && force)) {
    if (r.state.status !== "removing") {
      const members = await liveMembers(ctx, id);
      if (members.length > 0 && !force) {
        throw new FailedPreconditionError(
          `cannot remove container "${name}": it is the IPC owner of running containers (${members.map((m) => m.name).join(", ")}): stop them first or force the removal`,
        );
      }
      // Members still starting cannot be stopped; their start fails once the owner is gone.
      for (const m of members) if (m.status === "running" || m.status === "paused") await stopById(ctx, m.id, 10);
    }
    await runContainerCommand(ctx, { type: "RemoveContainer", data: { containerId: id, now: nowIso(), force } });
  }
  await carryOutRemoval(ctx, id);
}

/** Members of `ownerId`'s IPC group (by their IPC plan) that run or are starting. */
async function liveMembers(ctx: ApiContext, ownerId: string): Promise<{ id: string; name: string; status: string }[]> {
  await ctx.projection.catchUp();
  const rows = await membersOf(ctx.db, ownerId);
  const live = ["running", "paused", "starting", "scheduled", "ipc-prepared"];
  const withState = await Promise.all(rows.map(async (row) => ({ row, status: (await readContainer(ctx.store, row.id)).state.status })));
  return withState.filter(({ status }) => live.includes(status)).map(({ row, status }) => ({ id: row.id, name: row.name, status }));
}

/**
 * Finishes a removal that was decided (status `removing`): DeleteContainer on the host
 * it was placed on (killing it first when `stopFirst`), then ContainerRemoved, then the
 * name is free again. Idempotent: a container not (or no longer) being removed is left
 * alone. UNAVAILABLE when the host does not answer (the removal stays pending), except
 * for a container that died with its host: its removal completes without the host.
 */
export async function carryOutRemoval(ctx: ApiContext, id: string): Promise<void> {
  const r = await readContainer(ctx.store, id);
  if (r.state.status !== "removing") return;
  const host = r.state.host ?? r.lastHost;
  if (host !== undefined) {
    if (r.state.container.hostConfig.autoRemove) await keepOutput(ctx, host, id);
    try {
      await hostCommand(ctx, host, "DeleteContainer", { containerId: id, force: true });
    } catch (err) {
      // A dead container's host may be gone for good (lost): the removal goes on without it;
      // a host that comes back drops containers the control plane no longer expects.
      const hostGone = err instanceof UnavailableError && r.died;
      if (!(err instanceof NotFoundError) && !hostGone) throw err;
      if (hostGone) ctx.logger.warn({ containerId: id, host }, "removing a dead container whose host does not answer");
    }
  }
  try {
    await runContainerCommand(ctx, { type: "RecordRemoved", data: { containerId: id, now: nowIso() } });
  } catch (err) {
    // Another remover finished first.
    if (!(err instanceof NotFoundError) && !(err instanceof FailedPreconditionError)) throw err;
  }
  await ctx.db.deleteFrom("container_names").where("container_id", "=", id).execute();
}

// ---- logs, exec, wait ---------------------------------------------------------------

/** Saves a --rm container's output before its host deletes it; a failure only costs the output. */
async function keepOutput(ctx: ApiContext, host: string, id: string): Promise<void> {
  try {
    const out = (await hostCommand(ctx, host, "ReadLogs", { containerId: id })) as { stdout?: string; stderr?: string };
    await saveRemovedOutput(ctx.db, id, Buffer.from((out.stdout ?? "") + (out.stderr ?? ""), "utf8"));
  } catch (err) {
    ctx.logger.warn({ containerId: id, err: err instanceof Error ? err.message : String(err) }, "could not keep the output of a --rm container");
  }
}

/**
 * The container's output (stdout then stderr; the last `tail` lines when > 0); empty
 * when it never ran. A `--rm` container's output stays readable by full id for a few
 * minutes after its removal (see removed-output.ts), so a client attached to it never
 * loses the end.
 */
export async function containerLogs(ctx: ApiContext, ref: string, tail: number): Promise<Buffer> {
  if (!Number.isInteger(tail) || tail < 0) throw new InvalidArgumentError(`invalid tail: ${tail}`);
  const saved = async (id: string) => {
    const out = await readRemovedOutput(ctx.db, id);
    return out === undefined ? undefined : lastLines(out, tail);
  };
  let id: string;
  try {
    id = (await resolveContainer(ctx.db, ref)).id;
  } catch (err) {
    const r = normalizeRef(ref);
    const out = err instanceof NotFoundError && isContainerId(r) ? await saved(r) : undefined;
    if (out !== undefined) return out;
    throw err;
  }
  const r = await readContainer(ctx.store, id);
  const host = ("host" in r.state ? r.state.host : undefined) ?? r.lastHost;
  if (host === undefined) return Buffer.alloc(0);
  try {
    const out = (await hostCommand(ctx, host, "ReadLogs", { containerId: id, ...(tail > 0 ? { tail } : {}) })) as {
      stdout?: string;
      stderr?: string;
    };
    return Buffer.from((out.stdout ?? "") + (out.stderr ?? ""), "utf8");
  } catch (err) {
    // Deleted on its host by a removal racing this read.
    const out = err instanceof NotFoundError ? await saved(id) : undefined;
    if (out !== undefined) return out;
    throw err;
  }
}

export type ExecRequest = { args: string[]; env: string[]; cwd: string; timeoutMs: number };

/**
 * Runs a process in a running container. FAILED_PRECONDITION, in Docker's words, when it is
 * paused (`Container <ref> is paused, unpause the container before exec`) or not running
 * (`Container <id> is not running`).
 */
export async function execInContainer(
  ctx: ApiContext,
  ref: string,
  req: ExecRequest,
): Promise<{ exitCode: number; stdout: Buffer; stderr: Buffer }> {
  if (req.args.length === 0) throw new InvalidArgumentError("exec needs a command");
  const { id } = await resolveContainer(ctx.db, ref);
  const r = await readContainer(ctx.store, id);
  if (r.state.status === "paused") throw new FailedPreconditionError(`Container ${ref} is paused, unpause the container before exec`);
  if (r.state.status !== "running") throw new FailedPreconditionError(`Container ${id} is not running`);
  const timeoutMs = req.timeoutMs > 0 ? req.timeoutMs : 30_000;
  const out = (await hostCommand(
    ctx,
    r.state.host,
    "ExecInContainer",
    {
      containerId: id,
      args: req.args,
      ...(req.env.length > 0 ? { env: req.env } : {}),
      ...(req.cwd !== "" ? { cwd: req.cwd } : {}),
      timeoutMs,
    },
    timeoutMs + 10_000,
  )) as { exitCode: number; stdout?: string; stderr?: string };
  return { exitCode: out.exitCode, stdout: Buffer.from(out.stdout ?? "", "utf8"), stderr: Buffer.from(out.stderr ?? "", "utf8") };
}

/**
 * `docker top`: the container's processes as ps on its host shows them (`psArgs` as the
 * user gave them; empty: `-ef`). FAILED_PRECONDITION `Container <id> is not running`.
 */
export async function topContainer(ctx: ApiContext, ref: string, psArgs: string): Promise<{ titles: string[]; processes: { fields: string[] }[] }> {
  const { id } = await resolveContainer(ctx.db, ref);
  const r = await readContainer(ctx.store, id);
  if (r.state.status !== "running" && r.state.status !== "paused") throw new FailedPreconditionError(`Container ${id} is not running`);
  const top = (await hostCommand(ctx, r.state.host, "TopContainer", { containerId: id, ...(psArgs !== "" ? { psArgs } : {}) })) as {
    titles: string[];
    processes: string[][];
  };
  return { titles: top.titles, processes: top.processes.map((fields) => ({ fields })) };
}

/** `not-running` (default): returns at once unless the container is running or starting. `next-exit`: the next exit or failed start. `removed`: once removed. */
export type WaitCondition = "not-running" | "next-exit" | "removed";

/**
 * Waits until the container is no longer running (exited, failed to start, removed,
 * dead) per `condition`, and returns its last exit code and error.
 */
export async function waitContainer(
  ctx: ApiContext,
  ref: string,
  condition: WaitCondition,
  signal?: AbortSignal,
): Promise<{ exitCode: number; error: string }> {
  const { id } = await resolveContainer(ctx.db, ref);
  const watch = ctx.watcher.watch(id);
  const from = (await readContainer(ctx.store, id)).version;
  const answer = (r: ContainerRecord) => ({ exitCode: r.lastExit?.exitCode ?? 0, error: r.lastExit?.error ?? "" });
  const done = (r: ContainerRecord) => {
    if (signal?.aborted) throw new FailedPreconditionError("wait cancelled");
    const st = r.state.status;
    switch (condition) {
      case "removed":
        return st === "removed" || st === "absent" ? answer(r) : undefined;
      case "next-exit":
        if (r.lastExit !== undefined && r.lastExit.version > from) return answer(r);
        return st === "removed" || st === "absent" ? answer(r) : undefined;
      case "not-running":
        return ["created", "exited", "start-failed", "dead", "removed", "absent"].includes(st) ? answer(r) : undefined;
    }
  };
  return watch.until(done, 7 * 24 * 3600 * 1000, `wait for container ${ref}`);
}

// ---- inspect, list ------------------------------------------------------------------

/** The projection row of `ref` and its IPC group members; the projection is caught up first. */
export async function inspectContainer(ctx: ApiContext, ref: string): Promise<{ row: ContainerRow; memberIds: string[] }> {
  const { id } = await resolveContainer(ctx.db, ref);
  await ctx.projection.catchUp();
  const row = await getContainerRow(ctx.db, id);
  const memberIds = row.ipcOwnerId === row.id ? (await membersOf(ctx.db, row.id)).map((m) => m.id) : [];
  return { row, memberIds };
}

export async function listContainers(
  ctx: ApiContext,
  req: { all: boolean; filters: Record<string, string>; pageSize: number; pageToken: string },
): Promise<{ items: { row: ContainerRow; memberIds: string[] }[]; nextPageToken: string }> {
  const q = parseListQuery(req);
  await ctx.projection.catchUp();
  const { rows, more } = await listContainerRows(ctx.db, q);
  const items = await Promise.all(
    rows.map(async (row) => ({
      row,
      memberIds: row.ipcOwnerId === row.id ? (await membersOf(ctx.db, row.id)).map((m) => m.id) : [],
    })),
  );
  const last = rows[rows.length - 1];
  const nextPageToken = more && last ? encodePageToken({ createdAt: last.createdAt.toISOString(), id: last.id }) : "";
  return { items, nextPageToken };
}
