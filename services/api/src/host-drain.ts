/**
 * `shoal host drain HOST` and `shoal host activate HOST`.
 *
 *   DrainHost:    HostDrainRequested on host-<name> (decideHostDrain; NOT_FOUND for a host that
 *                 never registered) ─► the scheduler stops placing there at once; then every
 *                 container running there is moved: stopped (SIGTERM, SIGKILL after 10 s) and
 *                 started again avoiding this host, an IPC group as a unit — its members stopped,
 *                 then the owner, the owner started elsewhere first, then its members, which
 *                 follow it into its new namespace.
 *   ActivateHost: HostActivated: the host takes placements again. Nothing moves back.
 *
 * Without checkpoints a move is a restart elsewhere (the process starts afresh). With
 * `checkpoint` (`host drain --checkpoint`, needs experimental), a unit is checkpointed (an IPC
 * group as one group checkpoint, `drain-<host>-<time>`) and restored on another host, so it
 * goes on where it was; a unit the preflight refuses (host IPC) is moved by a restart. A `--rm`
 * container is not moved (its stop would remove it), nor one pinned to the host (`--host`);
 * each is reported as a failure, and so is a move whose start fails. A repeated drain moves what still runs there. Returns when every
 * move has finished.
 */
import { decideHostDrain, experimentalRefusal, hostStreamId, HOST_EVENT_SCHEMA_VERSIONS, isShoalError } from "@shoal/domain";
import { createCheckpoint } from "./checkpoints/checkpoint-operations";
import type { ApiContext } from "./api-context";
import { nowIso } from "./api-context";
import { listContainerRows } from "./container-queries";
import type { ContainerRow } from "./container-queries";
import { startContainer, stopById } from "./container-operations";
import { readContainer } from "./container-record";
import { randomUUID } from "node:crypto";

export type DrainResult = { moved: string[]; failures: { container: string; error: string }[] };

/** Seconds between SIGTERM and SIGKILL when a drain stops a container (Docker's stop default). */
const DRAIN_STOP_TIMEOUT_SECONDS = 10;

export async function drainHost(ctx: ApiContext, host: string, opts: { checkpoint?: boolean } = {}): Promise<DrainResult> {
  if (opts.checkpoint === true && !ctx.config.current().config.experimental) throw experimentalRefusal("create");
  await recordDrain(ctx, host, "DrainHost");
  await ctx.projection.catchUp();
  const { rows } = await listContainerRows(ctx.db, { host, statuses: ["running", "paused"], pageSize: 100_000 });
  const result: DrainResult = { moved: [], failures: [] };
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  for (const unit of moveUnits(rows)) {
    if (opts.checkpoint === true && (await moveByCheckpoint(ctx, host, unit, `drain-${host}-${stamp}`, result))) continue;
    await moveUnit(ctx, host, unit, result);
  }
  ctx.logger.info({ host, moved: result.moved.length, failed: result.failures.length }, "host drained");
  return result;
}

export async function activateHost(ctx: ApiContext, host: string): Promise<void> {
  await recordDrain(ctx, host, "ActivateHost");
}

async function recordDrain(ctx: ApiContext, host: string, type: "DrainHost" | "ActivateHost"): Promise<void> {
  const streamId = hostStreamId(host); // InvalidArgumentError for a bad name
  const history = await ctx.store.readStream(streamId);
  const events = decideHostDrain({ type, host, now: nowIso() }, history);
  if (events.length === 0) return;
  // ABORTED when the scheduler recorded a registration or a loss meanwhile: the caller retries.
  await ctx.store.appendToStream(
    streamId,
    history.length === 0 ? "no-stream" : history.length,
    events.map((e) => ({ eventId: randomUUID(), type: e.type, schemaVersion: HOST_EVENT_SCHEMA_VERSIONS[e.type], data: e.data, metadata: { actor: "api" } })),
  );
}

/** What moves together: an owner with its members (members first in `stopFirst`), or one container. */
type MoveUnit = { first: ContainerRow; followers: ContainerRow[] };

function moveUnits(rows: ContainerRow[]): MoveUnit[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const units = new Map<string, MoveUnit>();
  for (const r of rows) {
    const owner = r.ipcOwnerId;
    if (owner !== null && owner !== r.id && byId.has(owner)) continue; // moves with its owner
    units.set(r.id, { first: r, followers: [] });
  }
  for (const r of rows) {
    const owner = r.ipcOwnerId;
    if (owner !== null && owner !== r.id && units.has(owner)) units.get(owner)!.followers.push(r);
  }
  return [...units.values()];
}

async function moveUnit(ctx: ApiContext, host: string, unit: MoveUnit, result: DrainResult): Promise<void> {
  const all = [unit.first, ...unit.followers];
  const removable = all.filter((c) => c.hostConfig.autoRemove);
  if (removable.length > 0) {
    for (const c of all) result.failures.push({ container: c.id, error: "a --rm container cannot be moved (its stop would remove it); stop it yourself" });
    return;
  }
  // A container pinned here (--host) has nowhere else to go: it is left running.
  if ((await readContainer(ctx.store, unit.first.id)).pinnedHost === host) {
    for (const c of all) result.failures.push({ container: c.id, error: `pinned to host ${host} (--host): it cannot run elsewhere` });
    return;
  }
  try {
    for (const c of [...unit.followers, unit.first]) await stopById(ctx, c.id, DRAIN_STOP_TIMEOUT_SECONDS);
  } catch (err) {
    for (const c of all) result.failures.push({ container: c.id, error: `could not stop it: ${messageOf(err)}` });
    return;
  }
  for (const c of [unit.first, ...unit.followers]) {
    try {
      const started = await startContainer(ctx, c.id, "", { avoidHosts: [host] });
      if (started.failed) result.failures.push({ container: c.id, error: started.error });
      else result.moved.push(c.id);
    } catch (err) {
      result.failures.push({ container: c.id, error: messageOf(err) });
    }
  }
}

/**
 * Moves a unit by a checkpoint of it (a group's: `--group` on its owner) and a restore
 * avoiding `host`. False, having changed nothing, when the preflight refuses the unit (it is
 * then moved by a restart); a failure after the checkpoint is the unit's failure.
 */
async function moveByCheckpoint(ctx: ApiContext, host: string, unit: MoveUnit, name: string, result: DrainResult): Promise<boolean> {
  const all = [unit.first, ...unit.followers];
  if (all.some((c) => c.hostConfig.autoRemove)) return false;
  try {
    await createCheckpoint(ctx, { container: unit.first.id, name, leaveRunning: false, group: unit.followers.length > 0 });
  } catch (err) {
    if (isShoalError(err) && err.code === "FAILED_PRECONDITION" && !/checkpoint of container/.test(err.message)) {
      ctx.logger.info({ container: unit.first.id, reason: err.message }, "not movable by checkpoint; moving it by a restart");
      return false;
    }
    for (const c of all) result.failures.push({ container: c.id, error: `could not checkpoint it: ${messageOf(err)}` });
    return true;
  }
  try {
    const started = await startContainer(ctx, unit.first.id, name, { avoidHosts: [host] });
    if (started.failed) for (const c of all) result.failures.push({ container: c.id, error: started.error });
    else for (const c of all) result.moved.push(c.id);
  } catch (err) {
    for (const c of all) result.failures.push({ container: c.id, error: messageOf(err) });
  }
  return true;
}

function messageOf(err: unknown): string {
  return isShoalError(err) || err instanceof Error ? err.message : String(err);
}
