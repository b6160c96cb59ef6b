import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { machine, release } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { openCheckpointReplicas } from "@shoal/bus";
import type { CheckpointReplicas } from "@shoal/bus";
import { FailedPreconditionError, checkpointIncompatibility } from "@shoal/domain";
import type { CheckpointHostFacts } from "@shoal/domain";
import {
  CHECKPOINT_METADATA_FILE,
  CHECKPOINT_SHM_DIR,
  checkpointImagesDir,
  checkpointTree,
  checkpointUpperDir,
  digestHex,
  fromWebStream,
  packCheckpoint,
  parseCheckpointMetadata,
  treeDigest,
  unpackCheckpoint,
} from "@shoal/host-protocol";
import type { CheckpointMetadata, CommandPayload } from "@shoal/host-protocol";
import { Readable } from "node:stream";
import type { AgentContext, LiveContainer } from "./agent-context";
import { containerPaths } from "./container-store";
import { snapshotWritableLayer } from "./images/image-rootfs";

// Checkpoints on this host (README "Checkpoint and restore"): made by CheckpointContainers
// into a temporary directory and renamed to `<state-root>/checkpoints/<digest hex>` only
// when complete, so a kill -9 mid-dump leaves nothing that looks like a checkpoint (start-up
// removes the leftovers); copied to and fetched from the control plane's replica store; and
// prepared for a restore (the images, the shm contents, the writable layer).

const run = promisify(execFile);
const TMP = ".tmp-";
const RESTORE = ".restore-";

function checkpointsRoot(ctx: Pick<AgentContext, "stateRoot">): string {
  return join(ctx.stateRoot, "checkpoints");
}

/** Where checkpoint `digest` is stored on this host. */
export function storedCheckpointDir(ctx: Pick<AgentContext, "stateRoot">, digest: string): string {
  return join(checkpointsRoot(ctx), digestHex(digest));
}

let cpuFlags: string[] | undefined;

/** What this host offers a restore (and records with a checkpoint it makes). */
export async function hostFacts(ctx: Pick<AgentContext, "capabilities">): Promise<CheckpointHostFacts> {
  if (cpuFlags === undefined) {
    const info = await readFile("/proc/cpuinfo", "utf8").catch(() => "");
    const line = info.split("\n").find((l) => /^flags\s*:/.test(l)) ?? "";
    cpuFlags = line.replace(/^flags\s*:\s*/, "").split(/\s+/).filter((f) => f !== "").sort();
  }
  const criu = ctx.capabilities.criu;
  return { criuVersion: criu.available ? (criu.version ?? "") : "", kernel: release(), arch: machine(), cpuFlags };
}

function requireCriu(ctx: AgentContext): void {
  const criu = ctx.capabilities.criu;
  if (!criu.available) throw new FailedPreconditionError(`checkpoint/restore needs CRIU, which is not usable on host ${ctx.host}: ${criu.reason}`);
}

/** Runs `fn` holding the locks of every key, taken in the order given. */
function withLocks<T>(ctx: AgentContext, keys: readonly string[], fn: () => Promise<T>): Promise<T> {
  return keys.reduceRight<() => Promise<T>>((inner, key) => () => ctx.locks.run(key, inner), fn)();
}

/** Copies a tree with everything kept (modes, links, devices, xattrs). */
async function copyTree(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  await run("cp", ["-a", "--", `${from}/.`, to]);
}

/**
 * CheckpointContainers: dumps each container (a group's members first, then its owner, so
 * the owner's dump, which restores the namespace's System V segments, holds their latest
 * contents), each one frozen from its dump to the end when it is left running; then saves the shm tmpfs
 * and each writable layer, writes checkpoint.json, and stores the whole under its digest.
 * A failure takes back the temporary directory; a container whose dump failed runs on (CRIU
 * resumes it). Answers the checkpoint's facts.
 */
export function checkpointContainers(ctx: AgentContext, p: CommandPayload<"CheckpointContainers">): Promise<unknown> {
  requireCriu(ctx);
  const keys = [...p.containerIds, ...(p.shmOwnerId !== undefined ? [`shm:${p.shmOwnerId}`] : [])];
  return withLocks(ctx, keys, async () => {
    const lives: Array<{ id: string; live: LiveContainer }> = [];
    for (const id of p.containerIds) {
      const live = ctx.live.get(id);
      if (live === undefined || live.exited) throw new FailedPreconditionError(`container ${id} is not running on host ${ctx.host}`);
      if (live.paused) throw new FailedPreconditionError(`container ${id} is paused, unpause the container before checkpointing it`);
      lives.push({ id, live });
    }
    const root = checkpointsRoot(ctx);
    const tmp = join(root, `${TMP}${randomBytes(6).toString("hex")}`);
    const frozen: LiveContainer[] = [];
    try {
      const specs: CheckpointMetadata["containers"] = [];
      // Members first, the owner last (see above).
      for (const { id, live } of [...lives.slice(1), lives[0]!]) {
        const images = join(tmp, checkpointImagesDir(id));
        const work = join(tmp, "work", id);
        await mkdir(images, { recursive: true });
        await mkdir(work, { recursive: true });
        try {
          await live.task.checkpoint({ options: { exit: !p.leaveRunning, imagePath: images, workPath: work, cgroupsMode: "ignore" } });
        } catch (err) {
          throw new FailedPreconditionError(`checkpoint of container ${id} failed: ${await criuFailure(work, "dump", err)}`, { cause: err });
        }
        if (p.leaveRunning && lives.length > 1) {
          // Kept still until the shm is saved, so the group's shared state matches its dumps.
          await live.task.pause().catch(() => undefined);
          frozen.push(live);
        }
      }
      for (const { id } of lives) {
        const record = await ctx.store.get(id);
        specs.push({ id, spec: record?.spec ?? {} });
        // The writable layer: Shoal's overlay upper dir for a rootfs directory, the snapshot's for an image.
        const upper = record?.snapshot === true ? await snapshotWritableLayer(ctx, id) : containerPaths(ctx.stateRoot, id).upper;
        if (upper !== undefined && existsSync(upper)) await copyTree(upper, join(tmp, checkpointUpperDir(id)));
      }
      if (p.shmOwnerId !== undefined) await copyTree(containerPaths(ctx.stateRoot, p.shmOwnerId).shm, join(tmp, CHECKPOINT_SHM_DIR));
      await rm(join(tmp, "work"), { recursive: true, force: true });
      const ownerId = p.containerIds[0]!;
      const metadata: CheckpointMetadata = {
        version: 1,
        name: p.name,
        containerId: ownerId,
        mode: p.shmOwnerId !== undefined ? "shareable" : await modeOf(ctx, ownerId),
        containers: [specs.find((s) => s.id === ownerId)!, ...specs.filter((s) => s.id !== ownerId)],
        ...(p.containerIds.length > 1 ? { group: { ownerId, memberIds: p.containerIds.slice(1) } } : {}),
        shmSaved: p.shmOwnerId !== undefined,
        host: ctx.host,
        made: await hostFacts(ctx),
        leaveRunning: p.leaveRunning,
        createdAt: new Date().toISOString(),
      };
      await writeFile(join(tmp, CHECKPOINT_METADATA_FILE), JSON.stringify(metadata, null, 2));
      const tree = await checkpointTree(tmp);
      const digest = treeDigest(tree);
      const dest = storedCheckpointDir(ctx, digest);
      if (existsSync(dest)) await rm(tmp, { recursive: true, force: true });
      else await rename(tmp, dest);
      const sizeBytes = tree.reduce((n, e) => n + (e.type === "file" ? e.size : 0), 0);
      ctx.log.info({ digest, sizeBytes, containers: p.containerIds }, "checkpoint stored");
      return { digest, sizeBytes, made: metadata.made, shmSaved: metadata.shmSaved, mode: metadata.mode, createdAt: metadata.createdAt };
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    } finally {
      for (const live of frozen) await live.task.resume().catch(() => undefined);
    }
  });
}

async function modeOf(ctx: AgentContext, id: string): Promise<CheckpointMetadata["mode"]> {
  const mode = (await ctx.store.get(id))?.ipcPlan.mode;
  return mode === "none" ? "none" : mode === "shareable" ? "shareable" : "private";
}

/** The failure as CRIU's log tells it (its last error lines), else the error's message. */
async function criuFailure(work: string, what: "dump" | "restore", err: unknown): Promise<string> {
  const message = err instanceof Error ? err.message : String(err);
  const log = await readFile(join(work, `${what}.log`), "utf8").catch(() => "");
  const errors = log
    .split("\n")
    .filter((l) => /Error|error|Can't|can't|Unable|failed/.test(l))
    .slice(-3)
    .map((l) => l.replace(/^\(\d+\.\d+\)\s*/, "").trim());
  return errors.length > 0 ? `${message}; CRIU: ${errors.join(" | ")}` : message;
}

function replicaStore(ctx: AgentContext): Promise<CheckpointReplicas> {
  return openCheckpointReplicas(ctx.js, ctx.subjectPrefix);
}

/** ReplicateCheckpoint: puts the stored checkpoint's archive into the replica store, unless there already. */
export async function replicateCheckpoint(ctx: AgentContext, p: CommandPayload<"ReplicateCheckpoint">): Promise<{ replicated: true; sizeBytes: number }> {
  const dir = storedCheckpointDir(ctx, p.digest);
  if (!existsSync(dir)) throw new FailedPreconditionError(`checkpoint ${p.digest} is not stored on host ${ctx.host}`);
  const store = await replicaStore(ctx);
  const name = digestHex(p.digest);
  const have = await store.info(name);
  if (have !== null && !have.deleted) return { replicated: true, sizeBytes: have.size };
  const tree = await checkpointTree(dir);
  const info = await store.put({ name }, Readable.toWeb(packCheckpoint(dir, tree)) as unknown as ReadableStream<Uint8Array>);
  return { replicated: true, sizeBytes: info.size };
}

/** RemoveCheckpoint: the stored directory goes (the replica, if any, is the control plane's to remove). */
export async function removeCheckpoint(ctx: AgentContext, p: CommandPayload<"RemoveCheckpoint">): Promise<{ removed: boolean }> {
  const dir = storedCheckpointDir(ctx, p.digest);
  const had = existsSync(dir);
  await rm(dir, { recursive: true, force: true });
  return { removed: had };
}

/** Start-up: what a kill -9 mid-dump, mid-fetch or mid-restore left (never a listed checkpoint). */
export async function removeCheckpointLeftovers(ctx: AgentContext): Promise<string[]> {
  const root = checkpointsRoot(ctx);
  const names = await readdir(root).catch(() => [] as string[]);
  const gone = names.filter((n) => n.startsWith(TMP) || n.startsWith(RESTORE));
  for (const n of gone) await rm(join(root, n), { recursive: true, force: true });
  return gone;
}

/** The checkpoint's directory on this host: stored here, or fetched from the replica store (digest checked). */
async function checkpointHere(ctx: AgentContext, restore: NonNullable<CommandPayload<"StartContainer">["restore"]>): Promise<string> {
  const dir = storedCheckpointDir(ctx, restore.digest);
  if (existsSync(dir)) return dir;
  if (!restore.replicated) {
    throw new FailedPreconditionError(
      `checkpoint ${restore.name} is not stored on host ${ctx.host} and has no replica (hint: restore it on the host that made it, or export and import it)`,
    );
  }
  const store = await replicaStore(ctx);
  const object = await store.get(digestHex(restore.digest));
  if (object === null) throw new FailedPreconditionError(`checkpoint ${restore.name} (${restore.digest}) is missing from the replica store`);
  const tmp = join(checkpointsRoot(ctx), `${TMP}${randomBytes(6).toString("hex")}`);
  try {
    await mkdir(tmp, { recursive: true });
    await unpackCheckpoint(fromWebStream(object.data), tmp);
    const readError = await object.error;
    if (readError) throw new FailedPreconditionError(`checkpoint ${restore.name} could not be read from the replica store: ${readError.message}`);
    const digest = treeDigest(await checkpointTree(tmp));
    if (digest !== restore.digest) throw new FailedPreconditionError(`checkpoint ${restore.name} from the replica store has digest ${digest}, not ${restore.digest}`);
    if (existsSync(dir)) await rm(tmp, { recursive: true, force: true });
    else await rename(tmp, dir);
    return dir;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/** What Tasks.Create needs to restore one container, and how to take back what was set up for it. */
export type PreparedRestore = { imagePath: string; workPath: string; cleanup(): Promise<void>; failure(err: unknown): Promise<string> };

/**
 * Gets the checkpoint here, checks it can be restored on this host, and sets up container
 * `id`'s restore: the images, the shm tmpfs refilled (`shmPath`, a shareable owner's, mounted and
 * empty or stale), and the writable layer when this host has none (`freshUpper`).
 */
export async function prepareRestore(
  ctx: AgentContext,
  id: string,
  restore: NonNullable<CommandPayload<"StartContainer">["restore"]>,
  opts: { shmPath?: string; upperPath: string; freshUpper: boolean },
): Promise<PreparedRestore> {
  requireCriu(ctx);
  const dir = await checkpointHere(ctx, restore);
  const metadata = parseCheckpointMetadata(JSON.parse(await readFile(join(dir, CHECKPOINT_METADATA_FILE), "utf8")));
  const why = checkpointIncompatibility(metadata.made, await hostFacts(ctx), ctx.host);
  if (why !== undefined) throw new FailedPreconditionError(why);
  const images = join(dir, checkpointImagesDir(id));
  if (!existsSync(images)) throw new FailedPreconditionError(`checkpoint ${restore.name} holds no images of container ${id}`);
  const scratch = join(checkpointsRoot(ctx), `${RESTORE}${id.slice(0, 12)}-${randomBytes(4).toString("hex")}`);
  const workPath = join(scratch, "work");
  await mkdir(workPath, { recursive: true });
  // A member's images are used as dumped: Shoal's CRIU (scripts/criu) joins the owner's
  // restored IPC namespace and attaches its System V segments instead of making them again.
  const imagePath = images;
  if (opts.shmPath !== undefined && metadata.shmSaved) {
    for (const f of await readdir(opts.shmPath)) await rm(join(opts.shmPath, f), { recursive: true, force: true });
    await copyTree(join(dir, CHECKPOINT_SHM_DIR), opts.shmPath);
  }
  const upper = join(dir, checkpointUpperDir(id));
  if (opts.freshUpper && existsSync(upper)) await copyTree(upper, opts.upperPath);
  return {
    imagePath,
    workPath,
    cleanup: () => rm(scratch, { recursive: true, force: true }),
    failure: (err) => criuFailure(workPath, "restore", err),
  };
}
