import type { CheckpointInfo, PullImageRequest, PullProgress, ShoalEvent, SubscribeRequest, UnaryMethod, UnaryMethods } from "./api-types";
import { loadApiDescriptor } from "./api-descriptor";
import { DaemonError } from "./daemon-error";
import { openGrpcConnection } from "./grpc-connection";
import { createCodecs } from "./proto-codec";
import type { MessageCodec } from "./proto-codec";

export { DaemonError };

export interface EventSubscription {
  /** Events in log order; ends when `until_time` is reached; throws DaemonError. */
  events: AsyncIterable<ShoalEvent>;
  cancel(): void;
}

/** The api as the CLI calls it: `proto/shoal/v1` messages as plain objects (see api-types.ts). */
export interface ShoalApi {
  /** One RPC; rejects with DaemonError. */
  call<M extends UnaryMethod>(method: M, request: UnaryMethods[M][0]): Promise<UnaryMethods[M][1]>;
  subscribe(request: SubscribeRequest): EventSubscription;
  /** Checkpoints/ExportCheckpoint: the archive's bytes as they arrive. */
  exportCheckpoint(request: { container: string; name: string }): AsyncIterable<Buffer>;
  /** Images/PullImage: the progress lines as they arrive, the last one `done`. */
  pullImage(request: PullImageRequest): AsyncIterable<PullProgress>;
  /** Images/LoadImage: sends the archive's bytes in chunks (the first carries `host`). */
  loadImage(chunks: AsyncIterable<Uint8Array>, host: string): Promise<{ loaded: string[]; host: string }>;
  /** Images/SaveImage: the archive's bytes as they arrive. */
  saveImage(request: { images: string[] }): AsyncIterable<Buffer>;
  /** Checkpoints/ImportCheckpoint: sends the archive's bytes in chunks. */
  importCheckpoint(chunks: AsyncIterable<Uint8Array>): Promise<{ checkpoint: CheckpointInfo | null }>;
  close(): void;
}

/**
 * A client of the api at `addr` (`host:port` or `unix:/path`). Nothing is sent until the
 * first call; a call fails fast with an `unreachable` DaemonError when nothing listens
 * there. Throws for an address it cannot parse.
 */
export function connectShoalApi(addr: string): ShoalApi {
  const connection = openGrpcConnection(addr);
  const descriptor = loadApiDescriptor();
  const codecs = createCodecs(descriptor);
  const method = (name: string): { path: string; request: MessageCodec; response: MessageCodec } => {
    const m = descriptor.methods[name];
    if (m === undefined) throw new DaemonError("UNIMPLEMENTED", `the CLI has no method ${name}`, false);
    return { path: m.path, request: codecs(m.request), response: codecs(m.response) };
  };
  /** A server stream of archive chunks (`{ data }` messages) as the bytes they carry. */
  async function* archiveChunks(name: string, request: object): AsyncGenerator<Buffer> {
    const m = method(name);
    const { messages } = connection.serverStream(m.path, m.request.encode(request));
    for await (const message of messages) {
      const data = (m.response.decode(message) as { data?: Uint8Array }).data;
      if (data !== undefined && data.length > 0) yield Buffer.from(data);
    }
  }
  return {
    async call(name, request) {
      const m = method(name);
      return m.response.decode(await connection.unary(m.path, m.request.encode(request as object))) as never;
    },
    subscribe(request) {
      const m = method("Events/Subscribe");
      const { messages, cancel } = connection.serverStream(m.path, m.request.encode(request as object));
      async function* events(): AsyncGenerator<ShoalEvent> {
        for await (const message of messages) yield m.response.decode(message) as unknown as ShoalEvent;
      }
      return { events: events(), cancel };
    },
    exportCheckpoint(request) {
      return archiveChunks("Checkpoints/ExportCheckpoint", request);
    },
    pullImage(request) {
      const m = method("Images/PullImage");
      const { messages } = connection.serverStream(m.path, m.request.encode(request as object));
      async function* lines(): AsyncGenerator<PullProgress> {
        for await (const message of messages) yield m.response.decode(message) as unknown as PullProgress;
      }
      return lines();
    },
    async loadImage(chunks, host) {
      const m = method("Images/LoadImage");
      async function* frames(): AsyncGenerator<Uint8Array> {
        let first = true;
        for await (const data of chunks) {
          yield m.request.encode(first ? { data, host } : { data });
          first = false;
        }
        if (first) yield m.request.encode({ host });
      }
      return m.response.decode(await connection.clientStream(m.path, frames())) as never;
    },
    saveImage(request) {
      return archiveChunks("Images/SaveImage", request);
    },
    async importCheckpoint(chunks) {
      const m = method("Checkpoints/ImportCheckpoint");
      async function* frames(): AsyncGenerator<Uint8Array> {
        for await (const data of chunks) yield m.request.encode({ data });
      }
      return m.response.decode(await connection.clientStream(m.path, frames())) as never;
    },
    close() {
      connection.close();
    },
  };
}
