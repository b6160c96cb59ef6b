/**
 * shoal.v1.Checkpoints over gRPC: requests checked with zod at the edge (INVALID_ARGUMENT
 * naming the field), then handed to checkpoint-operations. Export streams the archive out in
 * chunks; Import takes it in chunks.
 */
import type { Server, ServerReadableStream, ServerWritableStream, ServiceDefinition, UntypedServiceImplementation, sendUnaryData } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { z } from "zod";
import { InternalError, InvalidArgumentError } from "@shoal/domain";
import type { ApiContext } from "../api-context";
import { statusName, toGrpcStatus } from "../grpc-errors";
import { unaryHandler } from "../unary-handler";
import { dateToTimestamp } from "../events/timestamp";
import { createCheckpoint, exportCheckpoint, importCheckpoint, listCheckpoints, removeCheckpoint } from "./checkpoint-operations";
import type { CheckpointView } from "./checkpoint-operations";

const str = z.string().max(4096);
const requests = {
  CreateCheckpoint: z.object({ container: str, name: str, leaveRunning: z.boolean(), group: z.boolean() }),
  ListCheckpoints: z.object({ container: str }),
  RemoveCheckpoint: z.object({ container: str, name: str }),
  ExportCheckpoint: z.object({ container: str, name: str }),
};

function parse<K extends keyof typeof requests>(method: K, req: unknown): z.infer<(typeof requests)[K]> {
  const r = requests[method].safeParse(req);
  if (r.success) return r.data as z.infer<(typeof requests)[K]>;
  const problems = r.error.issues.map((i) => `${i.path.join(".") || "request"}: ${i.message}`);
  throw new InvalidArgumentError(`invalid request: ${problems.join("; ")}`, { cause: r.error });
}

/** The proto's CheckpointInfo. */
export function checkpointInfo(v: CheckpointView): object {
  return {
    containerId: v.containerId,
    name: v.name,
    digest: v.digest,
    sizeBytes: String(v.sizeBytes),
    mode: v.mode,
    host: v.host,
    memberIds: v.group?.memberIds ?? [],
    criuVersion: v.made.criuVersion,
    kernel: v.made.kernel,
    createdAt: dateToTimestamp(new Date(v.createdAt)),
    replicated: v.replicated,
    shmSaved: v.shmSaved,
    leaveRunning: v.leaveRunning,
    containerName: v.containerName,
  };
}

/** Largest chunk Export sends (gRPC's default message limit is 4 MiB). */
const CHUNK = 1024 * 1024;

export function registerCheckpointsService(server: Server, packageDefinition: PackageDefinition, ctx: ApiContext): void {
  const definition = packageDefinition["shoal.v1.Checkpoints"] as ServiceDefinition | undefined;
  if (definition === undefined) throw new InternalError("the package definition has no shoal.v1.Checkpoints service");
  const h = (method: keyof typeof requests, run: (req: any) => Promise<object>) =>
    unaryHandler(ctx, `Checkpoints/${method}`, (req) => run(parse(method, req)));
  const fail = (method: string, err: unknown) => {
    const s = toGrpcStatus(err);
    if (s.internal) ctx.logger.error({ err, method }, "request failed unexpectedly");
    ctx.metrics.requests.inc({ method, code: statusName(s.code) });
    return { code: s.code, details: s.details, name: statusName(s.code), message: s.details };
  };
  const impl: UntypedServiceImplementation = {
    CreateCheckpoint: h("CreateCheckpoint", async (r) => ({ checkpoint: checkpointInfo(await createCheckpoint(ctx, r)) })),
    ListCheckpoints: h("ListCheckpoints", async (r) => ({ checkpoints: (await listCheckpoints(ctx, r.container)).map(checkpointInfo) })),
    RemoveCheckpoint: h("RemoveCheckpoint", async (r) => (await removeCheckpoint(ctx, r.container, r.name), {})),
    ExportCheckpoint: (call: ServerWritableStream<unknown, object>) => {
      const method = "Checkpoints/ExportCheckpoint";
      void (async () => {
        const r = parse("ExportCheckpoint", call.request);
        for await (const chunk of await exportCheckpoint(ctx, r.container, r.name)) {
          if (call.cancelled) return;
          for (let at = 0; at < chunk.length; at += CHUNK) {
            if (!call.write({ data: Buffer.from(chunk.subarray(at, at + CHUNK)) })) await new Promise((resolve) => call.once("drain", resolve));
          }
        }
        ctx.metrics.requests.inc({ method, code: statusName(status.OK) });
        call.end();
      })().catch((err: unknown) => call.emit("error", fail(method, err)));
    },
    ImportCheckpoint: (call: ServerReadableStream<{ data: Buffer }, object>, callback: sendUnaryData<object>) => {
      const method = "Checkpoints/ImportCheckpoint";
      async function* chunks(): AsyncGenerator<Uint8Array> {
        for await (const m of call as AsyncIterable<{ data?: Buffer }>) if (m.data !== undefined && m.data.length > 0) yield m.data;
      }
      importCheckpoint(ctx, chunks()).then(
        (v) => {
          ctx.metrics.requests.inc({ method, code: statusName(status.OK) });
          callback(null, { checkpoint: checkpointInfo(v) });
        },
        (err: unknown) => callback(fail(method, err)),
      );
    },
  };
  server.addService(definition, impl);
}
