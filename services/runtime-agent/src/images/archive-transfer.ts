import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { NotFoundError } from "@shoal/domain";
import { openImageArchives } from "@shoal/bus";
import { fromWebStream } from "@shoal/host-protocol";
import type { CommandPayload } from "@shoal/host-protocol";
import type { AgentContext } from "../agent-context";
import { loadArchive, saveArchive } from "./image-archive";

// LoadImage and SaveImage: archives travel between the control plane and this host through
// the stack's image-archive store (JetStream objects: far larger than a NATS message), and
// wait in a file under the state root while they are read or written.

export async function loadImage(ctx: AgentContext, p: CommandPayload<"LoadImage">): Promise<{ loaded: string[] }> {
  const file = await scratchFile(ctx, "load");
  try {
    const store = await openImageArchives(ctx.js, ctx.subjectPrefix);
    const body = await store.get(p.object);
    if (body === null) throw new NotFoundError(`image archive ${p.object} is not in the transfer store`);
    await pipeline(fromWebStream(body.data), createWriteStream(file));
    const loaded = await loadArchive(ctx, file);
    ctx.log.info({ loaded }, "images loaded");
    return { loaded };
  } finally {
    await rm(file, { force: true });
  }
}

export async function saveImage(ctx: AgentContext, p: CommandPayload<"SaveImage">): Promise<{ object: string }> {
  const file = await scratchFile(ctx, "save");
  try {
    await saveArchive(ctx, p.images, file);
    const store = await openImageArchives(ctx.js, ctx.subjectPrefix);
    await store.put({ name: p.object }, Readable.toWeb(createReadStream(file)) as unknown as ReadableStream<Uint8Array>);
    return { object: p.object };
  } finally {
    await rm(file, { force: true });
  }
}

async function scratchFile(ctx: AgentContext, what: string): Promise<string> {
  const dir = join(ctx.stateRoot, "tmp");
  await mkdir(dir, { recursive: true });
  return join(dir, `${what}-${randomUUID()}.tar`);
}
