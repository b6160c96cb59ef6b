/**
 * The Checkpoints API's operations (README "Checkpoint and restore"), independent of gRPC.
 *
 *   create: experimental? → name → container → no checkpoint of that name → preflight (the
 *           IPC table: checkpointPreflight) → ContainerCheckpointRequested on each container
 *           (nothing before this point changes anything) → the host dumps and stores it
 *           (CheckpointContainers) → CheckpointCreated on the checkpoint's stream and
 *           ContainerCheckpointed on each container, or ContainerCheckpointFailed.
 *   export: copied to the replica store by its host first (CheckpointReplicated), then read
 *           from there in chunks. import: spooled, its digest taken from its content, stored
 *           in the replica store and recorded (CheckpointImported) for the container it names.
 *   start:  restoreFrom finds what `start --checkpoint NAME` restores.
 */
import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { openCheckpointReplicas } from "@shoal/bus";
import type { CheckpointReplicas } from "@shoal/bus";
import {
  CHECKPOINT_EVENT_SCHEMA_VERSIONS,
  CONTAINER_EVENT_SCHEMA_VERSIONS,
  containerDecider,
  containerStreamId,
  FailedPreconditionError,
  NotFoundError,
  UnavailableError,
  checkpointExists,
  checkpointPreflight,
  checkpointStreamId,
  experimentalRefusal,
  foldCheckpoint,
  isShoalError,
  noSuchCheckpoint,
  parseCheckpointName,
  resolveIpcMode,
} from "@shoal/domain";
import type { CheckpointEvent, CheckpointFacts, CheckpointHostFacts, CheckpointState, PreflightContainer, RestoreFrom } from "@shoal/domain";
import { foldStream } from "@shoal/event-store";
import { digestHex, readCheckpointArchive } from "@shoal/host-protocol";
import type { ApiContext } from "../api-context";
import { hostCommand, nowIso, runContainerCommand } from "../api-context";
import { readContainer } from "../container-record";
import { membersOf, resolveContainer } from "../container-queries";

export type CheckpointView = CheckpointFacts & { replicated: boolean; containerName: string };

/** How long a host may take to dump and store a checkpoint (a group with a large shm). */
const CHECKPOINT_TIMEOUT_MS = 60_000;

function requireExperimental(ctx: ApiContext, command: string): void {
  if (!ctx.config.current().config.experimental) throw experimentalRefusal(command);
}

async function readCheckpoint(ctx: ApiContext, containerId: string, name: string): Promise<{ state: CheckpointState; version: number }> {
  const events = await ctx.store.readStream(checkpointStreamId(containerId, name));
  return { state: foldCheckpoint(events.map((e) => ({ type: e.type, data: e.data }) as CheckpointEvent)), version: events.length };
}

async function appendCheckpointEvent(ctx: ApiContext, containerId: string, name: string, version: number, event: CheckpointEvent): Promise<void> {
  await ctx.store.appendToStream(checkpointStreamId(containerId, name), version === 0 ? "no-stream" : version, [
    { eventId: randomUUID(), type: event.type, schemaVersion: CHECKPOINT_EVENT_SCHEMA_VERSIONS[event.type], data: event.data, metadata: { actor: "api" } },
  ]);
}

function replicaStore(ctx: ApiContext): Promise<CheckpointReplicas> {
  return openCheckpointReplicas(ctx.nc, ctx.prefix);
}

// ---- create -------------------------------------------------------------------------

export async function createCheckpoint(
  ctx: ApiContext,
  req: { container: string; name: string; leaveRunning: boolean; group: boolean },
): Promise<CheckpointView> {
  requireExperimental(ctx, "create");
  const name = parseCheckpointName(req.name);
  const target = await resolveContainer(ctx.db, req.container);
  const { state: existing, version } = await readCheckpoint(ctx, target.id, name);
  if (existing.present) throw checkpointExists(name, target.name);
  const config = ctx.config.current().config;
  const record = await readContainer(ctx.store, target.id);
  const s = record.state;
  if (s.status === "absent" || s.status === "removed") throw new NotFoundError(`No such container: ${req.container}`);
  const view = (id: string, n: string, st: string, hc: typeof s.container.hostConfig): PreflightContainer => ({
    id,
    name: n,
    ipcMode: resolveIpcMode(hc.ipcMode, config.defaultIpcMode),
    status: st,
  });
  const targetView = view(target.id, target.name, s.status, s.container.hostConfig);
  const members = targetView.ipcMode.kind === "shareable" ? (await ctx.projection.catchUp(), await membersOf(ctx.db, target.id)) : [];
  let owner: PreflightContainer | undefined;
  if (targetView.ipcMode.kind === "container") {
    const ownerState = (await readContainer(ctx.store, (await resolveContainer(ctx.db, targetView.ipcMode.ref)).id)).state;
    if (ownerState.status !== "absent") owner = view(ownerState.container.id, ownerState.container.name, ownerState.status, ownerState.container.hostConfig);
  }
  const plan = checkpointPreflight({
    target: targetView,
    group: req.group,
    ...(owner !== undefined ? { owner } : {}),
    liveMembers: members.map((m) => view(m.id, m.name, m.status, m.hostConfig)),
  });
  const host = s.status === "running" ? s.host : "";

  // Each container records the request (the decider checks it runs); a refusal of a later one takes back the earlier.
  const requested: string[] = [];
  try {
    for (const id of plan.containerIds) {
      await runContainerCommand(ctx, {
        type: "CheckpointContainer",
        data: { containerId: id, now: nowIso(), checkpoint: name, leaveRunning: req.leaveRunning, ...(plan.group ? { groupOwnerId: target.id } : {}) },
      });
      requested.push(id);
    }
  } catch (err) {
    await recordFailed(ctx, requested, name, `checkpoint not made: ${isShoalError(err) ? err.message : String(err)}`);
    throw err;
  }

  let stored: { digest: string; sizeBytes: number; made: CheckpointHostFacts; shmSaved: boolean; createdAt: string };
  try {
    stored = await hostCommand(
      ctx,
      host,
      "CheckpointContainers",
      { name, containerIds: plan.containerIds, ...(plan.shmOwnerId !== undefined ? { shmOwnerId: plan.shmOwnerId } : {}), leaveRunning: req.leaveRunning },
      CHECKPOINT_TIMEOUT_MS,
    );
  } catch (err) {
    const reason = isShoalError(err) ? err.message : String(err);
    await recordFailed(ctx, plan.containerIds, name, reason);
    if (err instanceof UnavailableError) throw err;
    throw isShoalError(err) && err.code === "FAILED_PRECONDITION" ? err : new FailedPreconditionError(reason, { cause: err });
  }
  const facts: CheckpointFacts = {
    containerId: target.id,
    name,
    digest: stored.digest,
    sizeBytes: stored.sizeBytes,
    mode: plan.mode,
    ...(plan.group ? { group: { ownerId: target.id, memberIds: plan.containerIds.slice(1) } } : {}),
    host,
    made: stored.made,
    shmSaved: stored.shmSaved,
    leaveRunning: req.leaveRunning,
    createdAt: stored.createdAt,
  };
  await recordCreated(ctx, facts, version, plan.containerIds);
  return { ...facts, replicated: false, containerName: target.name };
}

/**
 * CheckpointCreated on the checkpoint's stream and ContainerCheckpointed on each container,
 * in one append (one transaction). Each container's event is decided on its stream as read;
 * it holds whatever else is recorded meanwhile (its exit after the dump, most often), so it
 * is appended at any version.
 */
async function recordCreated(ctx: ApiContext, facts: CheckpointFacts, checkpointVersion: number, containerIds: readonly string[]): Promise<void> {
  const now = nowIso();
  const streams = await ctx.store.readStreams(containerIds.map((id) => ({ streamId: containerStreamId(id) })));
  const containerAppends = containerIds.map((id) => {
    const { state } = foldStream(containerDecider, streams.get(containerStreamId(id)) ?? []);
    const events = containerDecider.decide({ type: "RecordCheckpointed", data: { containerId: id, now, checkpoint: facts } }, state);
    return {
      streamId: containerStreamId(id),
      expectedVersion: "any" as const,
      events: events.map((e) => ({ eventId: randomUUID(), type: e.type, schemaVersion: CONTAINER_EVENT_SCHEMA_VERSIONS[e.type], data: e.data, metadata: { actor: "api" } })),
    };
  });
  await ctx.store.appendToStreams([
    {
      streamId: checkpointStreamId(facts.containerId, facts.name),
      expectedVersion: checkpointVersion === 0 ? "no-stream" : checkpointVersion,
      events: [{ eventId: randomUUID(), type: "CheckpointCreated", schemaVersion: CHECKPOINT_EVENT_SCHEMA_VERSIONS.CheckpointCreated, data: facts, metadata: { actor: "api" } }],
    },
    ...containerAppends,
  ]);
}

async function recordFailed(ctx: ApiContext, ids: readonly string[], checkpoint: string, reason: string): Promise<void> {
  for (const id of ids) {
    await runContainerCommand(ctx, { type: "RecordCheckpointFailed", data: { containerId: id, now: nowIso(), checkpoint, reason } }).catch((err: unknown) =>
      ctx.logger.warn({ err, containerId: id }, "could not record ContainerCheckpointFailed"),
    );
  }
}

// ---- list, remove -------------------------------------------------------------------

export async function listCheckpoints(ctx: ApiContext, ref: string): Promise<CheckpointView[]> {
  requireExperimental(ctx, "ls");
  const c = await resolveContainer(ctx.db, ref);
  await ctx.checkpointsProjection.catchUp();
  const rows = await ctx.db.selectFrom("api_checkpoints").selectAll().where("container_id", "=", c.id).orderBy("created_at").orderBy("name").execute();
  return rows.map((r) => ({ ...(typeof r.facts === "string" ? JSON.parse(r.facts) : r.facts), replicated: r.replicated, containerName: c.name }));
}

/** The checkpoint `name` of the container `ref`, present; Docker's NOT_FOUND otherwise. */
async function findCheckpoint(ctx: ApiContext, ref: string, name: string) {
  const c = await resolveContainer(ctx.db, ref);
  const { state, version } = await readCheckpoint(ctx, c.id, parseCheckpointName(name));
  if (!state.present) throw noSuchCheckpoint(name, c.name);
  return { container: c, state, version };
}

export async function removeCheckpoint(ctx: ApiContext, ref: string, name: string): Promise<void> {
  requireExperimental(ctx, "rm");
  const { container, state, version } = await findCheckpoint(ctx, ref, name);
  const facts = state.facts;
  try {
    await hostCommand(ctx, facts.host, "RemoveCheckpoint", { digest: facts.digest });
  } catch (err) {
    // A host that is gone keeps its copy; the record goes all the same (its directory is named by digest only).
    ctx.logger.warn({ err: isShoalError(err) ? err.message : String(err), host: facts.host }, "could not remove the checkpoint's files on its host");
  }
  if (state.replicated) await (await replicaStore(ctx)).delete(digestHex(facts.digest)).catch(() => undefined);
  await appendCheckpointEvent(ctx, container.id, facts.name, version, {
    type: "CheckpointRemoved",
    data: { containerId: container.id, name: facts.name, digest: facts.digest, removedAt: nowIso() },
  });
}

// ---- export, import -----------------------------------------------------------------

/** Makes sure the replica store holds the checkpoint (its host copies it there), recording CheckpointReplicated. */
export async function replicate(ctx: ApiContext, containerId: string, name: string): Promise<void> {
  const { state, version } = await readCheckpoint(ctx, containerId, name);
  if (!state.present || state.replicated) return;
  try {
    await hostCommand(ctx, state.facts.host, "ReplicateCheckpoint", { digest: state.facts.digest }, CHECKPOINT_TIMEOUT_MS);
  } catch (err) {
    if (err instanceof UnavailableError) {
      throw new UnavailableError(`checkpoint ${name} is stored only on host ${state.facts.host}, which does not answer: ${err.message}`, { cause: err });
    }
    throw err;
  }
  await appendCheckpointEvent(ctx, containerId, name, version, {
    type: "CheckpointReplicated",
    data: { containerId, name, digest: state.facts.digest, replicatedAt: nowIso() },
  });
}

/** The archive, in chunks, from the replica store. */
export async function exportCheckpoint(ctx: ApiContext, ref: string, name: string): Promise<AsyncIterable<Uint8Array>> {
  requireExperimental(ctx, "export");
  const { container, state } = await findCheckpoint(ctx, ref, name);
  await replicate(ctx, container.id, state.facts.name);
  const object = await (await replicaStore(ctx)).get(digestHex(state.facts.digest));
  if (object === null) throw new FailedPreconditionError(`checkpoint ${name} (${state.facts.digest}) is missing from the replica store`);
  return object.data;
}

/** Takes an archive made by export; records it for the container it names. */
export async function importCheckpoint(ctx: ApiContext, chunks: AsyncIterable<Uint8Array>): Promise<CheckpointView> {
  requireExperimental(ctx, "import");
  const dir = await mkdtemp(join(tmpdir(), "shoal-import-"));
  const file = join(dir, "archive.tar");
  try {
    await pipeline(Readable.from(chunks), createWriteStream(file));
    const { digest, metadata, sizeBytes } = await readCheckpointArchive(createReadStream(file));
    const container = await resolveContainer(ctx.db, metadata.containerId);
    const { state, version } = await readCheckpoint(ctx, container.id, parseCheckpointName(metadata.name));
    if (state.present) throw checkpointExists(metadata.name, container.name);
    const store = await replicaStore(ctx);
    const have = await store.info(digestHex(digest));
    if (have === null || have.deleted) {
      await store.put({ name: digestHex(digest) }, Readable.toWeb(createReadStream(file)) as unknown as ReadableStream<Uint8Array>);
    }
    const memberIds = metadata.group?.memberIds ?? [];
    const facts: CheckpointFacts = {
      containerId: container.id,
      name: metadata.name,
      digest,
      sizeBytes,
      mode: metadata.mode,
      ...(metadata.group !== undefined ? { group: { ownerId: container.id, memberIds } } : {}),
      host: metadata.host,
      made: metadata.made,
      shmSaved: metadata.shmSaved,
      leaveRunning: metadata.leaveRunning,
      createdAt: metadata.createdAt,
    };
    await appendCheckpointEvent(ctx, container.id, metadata.name, version, { type: "CheckpointImported", data: { ...facts, importedAt: nowIso() } });
    return { ...facts, replicated: true, containerName: container.name };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- restore ------------------------------------------------------------------------

/** What `start --checkpoint NAME` restores for container `containerId`, or undefined when it has no such checkpoint. */
export async function restoreFrom(ctx: ApiContext, containerId: string, name: string): Promise<(RestoreFrom & { memberIds: string[] }) | undefined> {
  const { state } = await readCheckpoint(ctx, containerId, parseCheckpointName(name));
  if (!state.present) return undefined;
  const f = state.facts;
  return { name: f.name, digest: f.digest, host: f.host, replicated: state.replicated, memberIds: f.group?.memberIds ?? [] };
}
