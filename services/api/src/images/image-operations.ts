/**
 * Images across the fleet (README "Images"). Each host's containerd is the truth of what
 * that host holds, so these ask the hosts: a pull runs on one host, a list merges the
 * hosts' answers by image id, a removal runs on every host holding the image once no
 * container uses it. What was pulled, and what failed, is recorded in the event log.
 */
import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { FailedPreconditionError, NotFoundError, UnavailableError, familiarName, familiarString, isShoalError, parseImageReference, referenceString } from "@shoal/domain";
import { Readable } from "node:stream";
import { openImageArchives, sendHostCommand } from "@shoal/bus";
import { fromWebStream } from "@shoal/host-protocol";
import type { ImageRemoval, ImageSummary, PullProgressLine } from "@shoal/host-protocol";
import type { ApiContext } from "../api-context";
import { hostCommand } from "../api-context";
import { createPostgresHostsReader } from "../hosts/index";
import type { HostView } from "../hosts/index";
import { recordImageEvent } from "./image-events";

/** An image as the fleet holds it: one summary, the hosts holding it. */
export interface FleetImage extends ImageSummary {
  hosts: string[];
}

/** A pull may take this long on the host (big images, slow registries). */
const PULL_TIMEOUT_MS = 60 * 60 * 1000;
/** A pull whose host says nothing (not even its keepalive, every 5 s: three missed) this long has lost its host. */
const PULL_SILENCE_MS = 15_000;

/** The hosts that can take work now (ready, not draining), by name. */
async function readyHosts(ctx: ApiContext): Promise<HostView[]> {
  const hosts = await createPostgresHostsReader({ db: ctx.db, projection: ctx.hostsProjection }).listHosts();
  return hosts.filter((h) => h.status === "ready" && !h.draining);
}

/** The names of the hosts that can take work now, by name. */
export async function activeHosts(ctx: ApiContext): Promise<string[]> {
  return (await readyHosts(ctx)).map((h) => h.name);
}

/** The host a pull without `--host` goes to: the active host with the fewest containers (where the next one most likely goes). */
async function pullHost(ctx: ApiContext): Promise<string> {
  const ready = (await readyHosts(ctx)).sort((a, b) => a.containers - b.containers);
  if (ready[0] === undefined) throw new UnavailableError("no active host to pull on");
  return ready[0].name;
}

/**
 * Pulls `reference` onto `host` (or the host pullHost picks), passing the host's progress
 * lines to `onProgress` as they come. Records ImagePulled or ImagePullFailed. The host's
 * error comes back as it is (NotFoundError for a missing tag, InvalidArgumentError for a
 * malformed reference, …).
 */
export async function pullImage(
  ctx: ApiContext,
  req: { reference: string; host: string; auth?: { username: string; password: string } },
  onProgress: (line: PullProgressLine) => void,
): Promise<{ host: string; image: ImageSummary; digest: string; updated: boolean }> {
  const ref = parseImageReference(req.reference); // InvalidArgumentError "invalid reference format"
  const host = req.host !== "" ? req.host : await pullHost(ctx);
  const progressSubject = `${ctx.prefix}.progress.${randomUUID()}`;
  const sub = ctx.nc.subscribe(progressSubject);
  let heardAt = Date.now();
  void (async () => {
    for await (const m of sub) {
      heardAt = Date.now();
      try {
        const line = m.json<PullProgressLine>();
        if (line.status !== "") onProgress(line);
      } catch {
        // A malformed progress line is dropped; the answer is what counts.
      }
    }
  })();
  // The host says something every few seconds while it pulls; silence means it is gone.
  let watchdog: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_, reject) => {
    watchdog = setInterval(() => {
      if (Date.now() - heardAt > PULL_SILENCE_MS) reject(new UnavailableError(`host ${host} stopped answering during the pull of ${req.reference}`));
    }, 1_000);
  });
  try {
    const answer = sendHostCommand(ctx.nc, {
      prefix: ctx.prefix,
      host,
      command: "PullImage",
      payload: {
        reference: referenceString(ref),
        ...(req.auth !== undefined && req.auth.username !== "" ? { auth: req.auth } : {}),
        ...(insecureRegistries(ctx).length > 0 ? { insecureRegistries: insecureRegistries(ctx) } : {}),
        progressSubject,
      },
      timeoutMs: PULL_TIMEOUT_MS,
    });
    const image = (await Promise.race([answer, silent])) as ImageSummary & { updated?: boolean };
    // Give the last progress lines (published before the reply) a moment to arrive.
    await ctx.nc.flush();
    const digest = repoDigestOf(image, referenceString(ref)) ?? "";
    await recordImageEvent(ctx, { type: "ImagePulled", data: { host, reference: referenceString(ref), id: image.id, digest, at: new Date().toISOString() } });
    return { host, image, digest, updated: image.updated !== false };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    await recordImageEvent(ctx, { type: "ImagePullFailed", data: { host, reference: referenceString(ref), reason, at: new Date().toISOString() } }).catch(
      (e: unknown) => ctx.logger.warn({ err: e }, "could not record ImagePullFailed"),
    );
    throw err;
  } finally {
    clearInterval(watchdog);
    sub.unsubscribe();
  }
}

/** The `sha256:` digest `ref`'s repository served for the image, from its repo digests; undefined when none says (a loaded image). */
export function repoDigestOf(image: ImageSummary, ref: string): string | undefined {
  const repo = referenceString(parseImageReference(ref)).replace(/[:@][^/]*$/, "");
  const hit = image.repoDigests.find((d) => d.startsWith(`${repo}@`));
  return hit === undefined ? undefined : hit.slice(hit.indexOf("@") + 1);
}

/** `insecure-registries` of the config in force. */
function insecureRegistries(ctx: ApiContext): string[] {
  return [...ctx.config.current().config.insecureRegistries];
}

/** Every host's images (or `host`'s), merged by id. A host that does not answer is skipped (logged). */
export async function listImages(ctx: ApiContext, req: { host: string; filters: Record<string, string> }): Promise<FleetImage[]> {
  const hosts = req.host !== "" ? [req.host] : await activeHosts(ctx);
  const answers = await Promise.all(
    hosts.map(async (host) => {
      try {
        return { host, images: (await hostCommand(ctx, host, "ListImages", {})) as ImageSummary[] };
      } catch (err) {
        if (req.host !== "") throw err;
        ctx.logger.warn({ err, host }, "a host did not list its images");
        return { host, images: [] as ImageSummary[] };
      }
    }),
  );
  const merged = new Map<string, FleetImage>();
  for (const { host, images } of answers) {
    for (const image of images) {
      const known = merged.get(image.id);
      if (known === undefined) {
        merged.set(image.id, { ...image, hosts: [host] });
      } else {
        known.hosts.push(host);
        known.names = [...new Set([...known.names, ...image.names])];
        known.repoDigests = [...new Set([...known.repoDigests, ...image.repoDigests])];
      }
    }
  }
  const reference = req.filters.reference;
  return [...merged.values()]
    .map((i) => (reference === undefined ? i : { ...i, names: i.names.filter((n) => matchesReference(reference, n)) }))
    .filter((i) => reference === undefined || i.names.length > 0)
    .sort((a, b) => (b.created ?? "").localeCompare(a.created ?? ""));
}

/**
 * Docker's `reference=` filter: a glob over the familiar name, with or without the tag
 * (`busybox`, `busy*`, `busybox:1.*`, `localhost:5000/*`).
 */
export function matchesReference(pattern: string, canonical: string): boolean {
  const ref = parseImageReference(canonical);
  const familiar = familiarString(ref);
  const repo = familiarName(ref);
  const glob = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")}$`);
  return glob.test(familiar) || glob.test(repo);
}

/**
 * The image `image` names (reference, id or id prefix) on the hosts that can run work:
 * the first host's answer, with every host holding it. NotFoundError "No such image: <ref>".
 */
export async function inspectImage(ctx: ApiContext, image: string, opts: { allNames?: boolean } = {}): Promise<FleetImage> {
  const hosts = await activeHosts(ctx);
  let found: FleetImage | undefined;
  await Promise.all(
    hosts.map(async (host) => {
      try {
        const summary = (await hostCommand(ctx, host, "InspectImage", { image: hostImageName(image), ...(opts.allNames ? { allNames: true } : {}) })) as ImageSummary;
        if (found === undefined) found = { ...summary, hosts: [host] };
        else if (found.id === summary.id) found.hosts.push(host);
      } catch (err) {
        if (!(isShoalError(err) && err.code === "NOT_FOUND")) ctx.logger.warn({ err, host }, "a host did not answer InspectImage");
      }
    }),
  );
  if (found === undefined) throw new NotFoundError(`No such image: ${noSuchImageName(image)}`);
  found.hosts.sort();
  return found;
}

/** An id or id prefix stays as it is; a reference goes to the hosts canonical. */
function hostImageName(image: string): string {
  return isIdLike(image) ? image : referenceString(parseImageReference(image));
}

function isIdLike(image: string): boolean {
  return /^(sha256:)?[0-9a-f]{12,64}$/.test(image);
}

/** Docker names a missing image familiar, tagged: `busybox:latest`. */
function noSuchImageName(image: string): string {
  return isIdLike(image) ? image : familiarString(parseImageReference(image));
}

/**
 * `rmi`, decided as Docker's daemon decides it (it knows the containers; the hosts only
 * untag and delete):
 * - a reference: refused without `force` when it is the image's only name and a container
 *   uses the image ("conflict: unable to remove repository reference …"); otherwise untagged,
 *   and the image deleted with its last name unless a running container uses it (then it
 *   stays, nameless, as Docker's dangling image);
 * - an id: refused while a running container uses it ("… (cannot be forced) - image is being
 *   used by running container …"), and without `force` while a stopped one does ("… (must be
 *   forced) …") or it has names in several repositories; otherwise every name goes with it.
 */
export async function removeImage(ctx: ApiContext, req: { image: string; force: boolean }): Promise<ImageRemoval> {
  const image = await inspectImage(ctx, req.image, { allNames: true });
  await ctx.projection.catchUp();
  const users = await ctx.db
    .selectFrom("containers")
    .select(["id", "status"])
    .where(sql<string>`source->>'id'`, "=", image.id)
    .execute();
  const short = image.id.replace(/^sha256:/, "").slice(0, 12);
  const running = users.find((u) => u.status !== "created" && u.status !== "exited" && u.status !== "dead" && u.status !== "lost");
  const stopped = users.find((u) => u !== running);
  const byId = isIdLike(req.image);
  const repositories = new Set(image.names.map((n) => n.replace(/:[^:/]*$/, "")));
  let keepDangling = false;
  if (!byId) {
    if (!req.force && image.names.length <= 1 && users[0] !== undefined) {
      throw new FailedPreconditionError(
        `conflict: unable to remove repository reference "${req.image}" (must force) - container ${users[0].id.slice(0, 12)} is using its referenced image ${short}`,
      );
    }
    // The last name of an image a running container uses goes; the image stays.
    keepDangling = running !== undefined;
  } else {
    if (running !== undefined) {
      throw new FailedPreconditionError(`conflict: unable to delete ${short} (cannot be forced) - image is being used by running container ${running.id.slice(0, 12)}`);
    }
    if (!req.force && stopped !== undefined) {
      throw new FailedPreconditionError(`conflict: unable to delete ${short} (must be forced) - image is being used by stopped container ${stopped.id.slice(0, 12)}`);
    }
    if (!req.force && repositories.size > 1) {
      throw new FailedPreconditionError(`conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`);
    }
  }
  const untagged = new Set<string>();
  const deleted = new Set<string>();
  for (const host of image.hosts) {
    const r = (await hostCommand(ctx, host, "RemoveImage", { image: hostImageName(req.image), force: true, keepDangling })) as ImageRemoval;
    r.untagged.forEach((u) => untagged.add(u));
    r.deleted.forEach((d) => deleted.add(d));
    await recordImageEvent(ctx, { type: "ImageRemoved", data: { host, id: image.id, untagged: r.untagged, deleted: r.deleted.length > 0, at: new Date().toISOString() } });
  }
  return { untagged: [...untagged], deleted: [...deleted] };
}

/** `tag SOURCE TARGET` on every host holding SOURCE. */
export async function tagImage(ctx: ApiContext, req: { source: string; target: string }): Promise<void> {
  const target = referenceString(parseImageReference(req.target));
  const image = await inspectImage(ctx, req.source);
  for (const host of image.hosts) await hostCommand(ctx, host, "TagImage", { source: hostImageName(req.source), target });
}

/** How long a load or save may take on the host. */
const ARCHIVE_TIMEOUT_MS = 60 * 60 * 1000;

/**
 * `load`: the archive's chunks go to the image-archive store, then to `host` (or the host a
 * pull would pick), which loads it; the object is deleted either way.
 */
export async function loadImage(ctx: ApiContext, chunks: AsyncIterable<{ data: Uint8Array; host: string }>): Promise<{ host: string; loaded: string[] }> {
  const iterator = chunks[Symbol.asyncIterator]();
  const first = await iterator.next();
  const host = first.done === true || first.value.host === "" ? await pullHost(ctx) : first.value.host;
  async function* bytes(): AsyncGenerator<Uint8Array> {
    if (first.done !== true) yield first.value.data;
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) yield next.value.data;
  }
  const store = await openImageArchives(ctx.nc, ctx.prefix);
  const object = `load-${randomUUID()}`;
  await store.put({ name: object }, Readable.toWeb(Readable.from(bytes())) as unknown as ReadableStream<Uint8Array>);
  try {
    const r = (await sendHostCommand(ctx.nc, { prefix: ctx.prefix, host, command: "LoadImage", payload: { object }, timeoutMs: ARCHIVE_TIMEOUT_MS })) as { loaded: string[] };
    return { host, loaded: r.loaded };
  } finally {
    await store.delete(object).catch((err: unknown) => ctx.logger.warn({ err, object }, "could not delete a load's archive"));
  }
}

/** `save`: a host holding the first image writes the archive into the image-archive store; its bytes, then it is deleted. */
export async function saveImage(ctx: ApiContext, images: readonly string[]): Promise<AsyncIterable<Uint8Array>> {
  const first = await inspectImage(ctx, images[0]!);
  for (const other of images.slice(1)) await inspectImage(ctx, other);
  const host = first.hosts[0]!;
  const object = `save-${randomUUID()}`;
  await sendHostCommand(ctx.nc, { prefix: ctx.prefix, host, command: "SaveImage", payload: { images: [...images], object }, timeoutMs: ARCHIVE_TIMEOUT_MS });
  const store = await openImageArchives(ctx.nc, ctx.prefix);
  const body = await store.get(object);
  if (body === null) throw new UnavailableError(`the archive host ${host} saved is not in the transfer store`);
  return (async function* () {
    try {
      for await (const chunk of fromWebStream(body.data)) yield chunk as Uint8Array;
    } finally {
      await store.delete(object).catch((err: unknown) => ctx.logger.warn({ err, object }, "could not delete a save's archive"));
    }
  })();
}
