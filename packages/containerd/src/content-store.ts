import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import type { ClientDuplexStream, StatusObject } from "@grpc/grpc-js";
import { AlreadyExistsError, FailedPreconditionError, InternalError, InvalidArgumentError, NotFoundError, UnavailableError } from "@shoal/domain";
import { fromGrpcError } from "./errors";
import type { Info__Output } from "./generated/containerd/services/content/v1/Info";
import type { Status__Output } from "./generated/containerd/services/content/v1/Status";
import type { WriteContentRequest } from "./generated/containerd/services/content/v1/WriteContentRequest";
import type { WriteContentResponse__Output } from "./generated/containerd/services/content/v1/WriteContentResponse";
import type { BlobSource, ContentInfo, ContentStore, Descriptor, WriteOptions, WriteResult, WriteStatus } from "./image-services";
import { toDate } from "./proto";
import type { RpcChannel } from "./rpc-channel";

/** Data per Write message: well under containerd's 16 MiB receive limit. */
const CHUNK = 1 << 20;
/** How long `write` waits for another stream's lock on the same ref (a concurrent pull of the same blob). */
const LOCK_WAIT_MS = 120_000;

export function contentStore(channel: RpcChannel): ContentStore {
  return new ContentStoreImpl(channel);
}

class ContentStoreImpl implements ContentStore {
  constructor(private readonly channel: RpcChannel) {}

  async info(digest: string): Promise<ContentInfo> {
    const res = await this.channel.unary("Content/Info", { digest });
    if (res.info === null) throw new NotFoundError(`Content.Info: no info for ${digest}`);
    return contentInfo(res.info);
  }

  async write(ref: string, expected: Descriptor, source: BlobSource, opts: WriteOptions = {}): Promise<WriteResult> {
    if (ref === "") throw new InvalidArgumentError("content write needs a ref");
    const waitUntil = Date.now() + LOCK_WAIT_MS;
    for (let pause = 16; ; pause = Math.min(pause * 2, 1000)) {
      const result = await this.writeOnce(ref, expected, source, opts);
      if (!(result instanceof UnavailableError)) return result;
      if (Date.now() + pause > waitUntil) throw result;
      await sleep(pause);
    }
  }

  /** One Content.Write stream; the UnavailableError of a ref locked by another stream is returned (before `source` was called), to wait and retry. */
  private async writeOnce(ref: string, expected: Descriptor, source: BlobSource, opts: WriteOptions): Promise<WriteResult | UnavailableError> {
    const session = new WriteSession(this.channel.duplex("Content/Write", opts.lease === undefined ? {} : { lease: opts.lease }));
    let resumedFrom = 0;
    let committing = false;
    try {
      let stat: WriteContentResponse__Output;
      try {
        stat = await session.request({ action: "STAT", ref, total: expected.size, expected: expected.digest });
      } catch (err) {
        if (err instanceof UnavailableError && / locked /.test(err.message)) return err;
        throw err;
      }
      // More than the blob (a ref reused for another blob): writing from offset 0 truncates.
      resumedFrom = stat.offset <= expected.size ? stat.offset : 0;
      let offset = resumedFrom;
      if (offset < expected.size) {
        try {
          for await (const piece of source(offset)) {
            for (let at = 0; at < piece.byteLength; at += CHUNK) {
              const data = piece.subarray(at, Math.min(at + CHUNK, piece.byteLength));
              await session.send({ action: "WRITE", offset, data });
              offset += data.byteLength;
            }
          }
        } catch (sourceError) {
          if (session.failure() !== undefined) throw session.failure();
          // Half-close so containerd writes all it was sent: a resumed write continues after it.
          await session.finish().catch(() => undefined);
          throw sourceError;
        }
      }
      committing = true;
      await session.request({ action: "COMMIT", offset, total: expected.size, expected: expected.digest, labels: opts.labels ?? {} });
      await session.finish();
      return { outcome: "committed", resumedFrom };
    } catch (err) {
      session.cancel();
      if (err instanceof AlreadyExistsError) return { outcome: "already-present", resumedFrom };
      if (committing && err instanceof FailedPreconditionError) {
        // A commit refused for size or digest keeps its ingest: bytes that are wrong, not partial.
        await this.channel.unary("Content/Abort", { ref }).catch(() => undefined);
      }
      throw err;
    }
  }

  read(digest: string, opts: { offset?: number } = {}): Readable {
    const messages = this.channel.serverStream("Content/Read", { digest, offset: opts.offset ?? 0, size: 0 }, { deadline: false });
    return Readable.from(bytes(messages), { objectMode: false });
  }

  async update(digest: string, labels: Record<string, string>, opts: { fieldpaths?: string[] } = {}): Promise<ContentInfo> {
    const paths = opts.fieldpaths ?? Object.keys(labels).map((k) => `labels.${k}`);
    if (paths.length === 0) return this.info(digest);
    const res = await this.channel.unary("Content/Update", { info: { digest, labels }, updateMask: { paths } });
    if (res.info === null) throw new NotFoundError(`Content.Update: no info for ${digest}`);
    return contentInfo(res.info);
  }

  async delete(digest: string): Promise<void> {
    await this.channel.unary("Content/Delete", { digest });
  }

  async listStatuses(): Promise<WriteStatus[]> {
    const res = await this.channel.unary("Content/ListStatuses", { filters: [] });
    return res.statuses.map(writeStatus);
  }

  async abort(ref: string): Promise<void> {
    await this.channel.unary("Content/Abort", { ref });
  }
}

async function* bytes(messages: AsyncIterable<{ data: Buffer }>): AsyncGenerator<Buffer> {
  for await (const m of messages) if (m.data.byteLength > 0) yield m.data;
}

interface Waiter {
  resolve(res: WriteContentResponse__Output): void;
  reject(err: Error): void;
}

const IGNORE: Waiter = { resolve: () => undefined, reject: () => undefined };

/**
 * One Content.Write stream. containerd answers every request with one response, in order,
 * and ends the stream with an error status at the first failure. WRITE requests are
 * pipelined (sent without waiting for their answers; a failure shows on a later call);
 * `request` waits for the answer.
 */
class WriteSession {
  private readonly waiters: Waiter[] = [];
  private error: Error | undefined;
  private readonly closed: Promise<void>;

  constructor(private readonly call: ClientDuplexStream<WriteContentRequest, WriteContentResponse__Output>) {
    call.on("data", (res: WriteContentResponse__Output) => this.waiters.shift()?.resolve(res));
    call.on("error", (err: unknown) => this.fail(fromGrpcError("Content.Write", err)));
    this.closed = new Promise((resolve) => {
      call.on("status", (st: StatusObject) => {
        if (st.code === status.OK && this.waiters.length > 0) this.fail(new InternalError("Content.Write: stream ended before answering"));
        resolve();
      });
    });
  }

  /** Sends `req` and resolves with containerd's answer to it. */
  async request(req: WriteContentRequest): Promise<WriteContentResponse__Output> {
    const answer = new Promise<WriteContentResponse__Output>((resolve, reject) => this.waiters.push({ resolve, reject }));
    await this.write(req);
    return answer;
  }

  /** Sends `req` without waiting for its answer; waits while the stream's buffer is full. */
  async send(req: WriteContentRequest): Promise<void> {
    this.waiters.push(IGNORE);
    await this.write(req);
  }

  /** Half-closes and waits for containerd's final status. */
  async finish(): Promise<void> {
    this.call.end();
    await this.closed;
    if (this.error !== undefined) throw this.error;
  }

  failure(): Error | undefined {
    return this.error;
  }

  cancel(): void {
    this.call.cancel();
  }

  private async write(req: WriteContentRequest): Promise<void> {
    if (this.error !== undefined) throw this.error;
    if (!this.call.write(req)) {
      await Promise.race([new Promise((resolve) => this.call.once("drain", resolve)), this.closed]);
    }
    if (this.error !== undefined) throw this.error;
  }

  private fail(err: Error): void {
    this.error ??= err;
    for (const w of this.waiters.splice(0)) w.reject(this.error);
  }
}

function contentInfo(info: Info__Output): ContentInfo {
  const out: ContentInfo = { digest: info.digest, size: Number(info.size), labels: { ...info.labels } };
  const createdAt = toDate(info.createdAt);
  if (createdAt !== undefined) out.createdAt = createdAt;
  const updatedAt = toDate(info.updatedAt);
  if (updatedAt !== undefined) out.updatedAt = updatedAt;
  return out;
}

function writeStatus(s: Status__Output): WriteStatus {
  const out: WriteStatus = { ref: s.ref, offset: Number(s.offset), total: Number(s.total), expected: s.expected };
  const startedAt = toDate(s.startedAt);
  if (startedAt !== undefined) out.startedAt = startedAt;
  const updatedAt = toDate(s.updatedAt);
  if (updatedAt !== undefined) out.updatedAt = updatedAt;
  return out;
}
