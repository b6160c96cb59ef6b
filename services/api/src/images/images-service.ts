/**
 * shoal.v1.Images over gRPC: requests checked with zod at the edge (INVALID_ARGUMENT naming
 * the field), then handed to image-operations. PullImage streams the host's progress lines
 * and ends with the image.
 */
import type { Server, ServerReadableStream, ServerWritableStream, sendUnaryData, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { z } from "zod";
import { InternalError, InvalidArgumentError, familiarName, familiarString, parseImageReference } from "@shoal/domain";
import type { ImageSummary } from "@shoal/host-protocol";
import type { ApiContext } from "../api-context";
import { statusName, toGrpcStatus } from "../grpc-errors";
import { unaryHandler } from "../unary-handler";
import { dateToTimestamp } from "../events/timestamp";
import { inspectImage, listImages, loadImage, pullImage, removeImage, saveImage, tagImage } from "./image-operations";

const str = z.string().max(4096);
const requests = {
  PullImage: z.object({ reference: str, host: str, auth: z.object({ username: str, password: str }).nullish() }),
  ListImages: z.object({ host: str, filters: z.record(z.string(), str) }),
  InspectImage: z.object({ image: str }),
  RemoveImage: z.object({ image: str, force: z.boolean() }),
  TagImage: z.object({ source: str, target: str }),
  SaveImage: z.object({ images: z.array(str).min(1, "give at least one image") }),
};

function parse<K extends keyof typeof requests>(method: K, req: unknown): z.infer<(typeof requests)[K]> {
  const r = requests[method].safeParse(req);
  if (r.success) return r.data as z.infer<(typeof requests)[K]>;
  const problems = r.error.issues.map((i) => `${i.path.join(".") || "request"}: ${i.message}`);
  throw new InvalidArgumentError(`invalid request: ${problems.join("; ")}`, { cause: r.error });
}

/** The proto's ImageInfo: names familiar, as `docker images` shows them. */
export function imageInfo(image: ImageSummary & { hosts?: string[] }): object {
  return {
    id: image.id,
    repoTags: image.names.map((n) => familiarString(parseImageReference(n))),
    repoDigests: image.repoDigests.map((d) => {
      const at = d.indexOf("@");
      return `${familiarName(parseImageReference(d.slice(0, at)))}${d.slice(at)}`;
    }),
    sizeBytes: String(image.sizeBytes),
    ...(image.created !== undefined ? { created: dateToTimestamp(new Date(image.created)) } : {}),
    config: {
      entrypoint: image.config.entrypoint ?? [],
      cmd: image.config.cmd ?? [],
      env: image.config.env ?? [],
      workingDir: image.config.workingDir ?? "",
      user: image.config.user ?? "",
      stopSignal: image.config.stopSignal ?? "",
      labels: image.config.labels ?? {},
    },
    os: image.os,
    architecture: image.architecture,
    hosts: image.hosts ?? [],
    diffIds: image.diffIds,
  };
}

/** Largest chunk SaveImage sends (gRPC's default message limit is 4 MiB). */
const CHUNK = 1024 * 1024;

export function registerImagesService(server: Server, packageDefinition: PackageDefinition, ctx: ApiContext): void {
  const definition = packageDefinition["shoal.v1.Images"] as ServiceDefinition | undefined;
  if (definition === undefined) throw new InternalError("the package definition has no shoal.v1.Images service");
  const h = (method: keyof typeof requests, run: (req: any) => Promise<object>) =>
    unaryHandler(ctx, `Images/${method}`, (req) => run(parse(method, req)));
  const grpcFailure = (method: string, err: unknown) => {
    const s = toGrpcStatus(err);
    if (s.internal) ctx.logger.error({ err, method }, "request failed unexpectedly");
    ctx.metrics.requests.inc({ method, code: statusName(s.code) });
    return { code: s.code, details: s.details, name: statusName(s.code), message: s.details };
  };
  const impl: UntypedServiceImplementation = {
    ListImages: h("ListImages", async (r) => ({ images: (await listImages(ctx, r)).map(imageInfo) })),
    InspectImage: h("InspectImage", async (r) => ({ image: imageInfo(await inspectImage(ctx, r.image)) })),
    RemoveImage: h("RemoveImage", async (r) => {
      const removal = await removeImage(ctx, r);
      return { untagged: removal.untagged, deleted: removal.deleted };
    }),
    TagImage: h("TagImage", async (r) => (await tagImage(ctx, r), {})),
    LoadImage: (call: ServerReadableStream<{ data: Buffer; host?: string }, object>, callback: sendUnaryData<object>) => {
      const method = "Images/LoadImage";
      async function* chunks(): AsyncGenerator<{ data: Uint8Array; host: string }> {
        for await (const m of call as AsyncIterable<{ data?: Buffer; host?: string }>) yield { data: m.data ?? Buffer.alloc(0), host: m.host ?? "" };
      }
      loadImage(ctx, chunks()).then(
        (r) => {
          ctx.metrics.requests.inc({ method, code: statusName(status.OK) });
          callback(null, { loaded: r.loaded, host: r.host });
        },
        (err: unknown) => callback(grpcFailure(method, err)),
      );
    },
    SaveImage: (call: ServerWritableStream<unknown, object>) => {
      const method = "Images/SaveImage";
      void (async () => {
        const r = parse("SaveImage", call.request);
        for await (const chunk of await saveImage(ctx, r.images)) {
          if (call.cancelled) return;
          for (let at = 0; at < chunk.length; at += CHUNK) {
            if (!call.write({ data: Buffer.from(chunk.subarray(at, at + CHUNK)) })) await new Promise((resolve) => call.once("drain", resolve));
          }
        }
        ctx.metrics.requests.inc({ method, code: statusName(status.OK) });
        call.end();
      })().catch((err: unknown) => call.emit("error", grpcFailure(method, err)));
    },
    PullImage: (call: ServerWritableStream<unknown, object>) => {
      const method = "Images/PullImage";
      void (async () => {
        const r = parse("PullImage", call.request);
        const done = await pullImage(ctx, { reference: r.reference, host: r.host, ...(r.auth ? { auth: r.auth } : {}) }, (line) => {
          if (!call.cancelled) call.write({ id: line.id, status: line.status, current: String(line.current ?? 0), total: String(line.total ?? 0) });
        });
        call.write({
          done: true,
          status: done.updated ? "Downloaded newer image" : "Image is up to date",
          digest: done.digest,
          image: imageInfo({ ...done.image, hosts: [done.host] }),
          host: done.host,
        });
        ctx.metrics.requests.inc({ method, code: statusName(status.OK) });
        call.end();
      })().catch((err: unknown) => call.emit("error", grpcFailure(method, err)));
    },
  };
  server.addService(definition, impl);
}
