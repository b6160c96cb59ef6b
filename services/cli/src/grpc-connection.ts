import { connect as http2Connect, constants as http2Constants } from "node:http2";
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders } from "node:http2";
import { connect as netConnect } from "node:net";
import { DaemonError, grpcStatusName } from "./daemon-error";

/**
 * The client half of gRPC over HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md) that the CLI needs:
 * unary and server-streaming calls, plaintext (h2c), identity encoding, no retries and no
 * load balancing — one connection to one api for one short-lived process. It exists so
 * `shoal` starts without loading grpc-js (three quarters of the bundle and most of the
 * node built-ins it pulls in); the CLI's int tests talk to a grpc-js server, so it is
 * checked against the reference implementation.
 *
 * Every failure is a DaemonError: the call's grpc-status and grpc-message, or
 * UNAVAILABLE (`unreachable`) when the connection itself failed.
 */
export interface GrpcConnection {
  /** Sends one message and resolves with the one response message. */
  unary(path: string, request: Uint8Array): Promise<Buffer>;
  /** Sends one message; yields each response message as it arrives, ends with the call. */
  serverStream(path: string, request: Uint8Array): { messages: AsyncIterable<Buffer>; cancel(): void };
  /** Sends each message of `requests` in turn (waiting while the stream is full); resolves with the one response message. */
  clientStream(path: string, requests: AsyncIterable<Uint8Array>): Promise<Buffer>;
  close(): void;
}

const UNREACHABLE = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ENOENT|EAI_AGAIN|ETIMEDOUT|ECONNRESET/;

/** `host:port`, `[v6]:port`, `dns:host:port`, `dns:///host:port`, `ipv4:…`, `unix:/path`, `unix:///path`. */
export function parseTarget(target: string): { authority: string; socketPath?: string } {
  if (target.startsWith("unix:")) {
    const path = target.slice("unix:".length).replace(/^\/\/(?=\/)/, "");
    return { authority: "localhost", socketPath: path };
  }
  const hostPort = target.replace(/^(dns|ipv4|ipv6):(\/\/[^/]*\/)?/, "");
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:/[\]]+):\d+$/.test(hostPort)) {
    throw new Error(`expected host:port or unix:/path, got "${target}"`);
  }
  return { authority: hostPort };
}

export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** Splits the length-prefixed messages of a response body as its chunks arrive. */
export class MessageReader {
  private buffered: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Buffer[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const messages: Buffer[] = [];
    while (this.buffered.length >= 5) {
      const length = this.buffered.readUInt32BE(1);
      if (this.buffered.length < 5 + length) break;
      if (this.buffered[0] !== 0) throw new DaemonError("INTERNAL", "the api sent a compressed message the CLI did not ask for", false);
      messages.push(this.buffered.subarray(5, 5 + length));
      this.buffered = this.buffered.subarray(5 + length);
    }
    return messages;
  }
  get pending(): number {
    return this.buffered.length;
  }
}

/** HTTP status → gRPC code when a response carries no grpc-status (PROTOCOL-HTTP2.md / http-grpc-status-mapping.md). */
function codeForHttpStatus(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return 13;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 12;
    case 429:
    case 502:
    case 503:
    case 504:
      return 14;
    default:
      return 2;
  }
}

function decodeGrpcMessage(value: string | string[] | undefined): string {
  const raw = Array.isArray(value) ? value.join(",") : (value ?? "");
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * The status of a finished call from its headers and trailers (a trailers-only response
 * carries grpc-status in the headers). undefined when neither has one.
 */
function statusOf(headers: IncomingHttpHeaders | undefined, trailers: IncomingHttpHeaders | undefined): DaemonError | "ok" | undefined {
  for (const h of [trailers, headers]) {
    const raw = h?.["grpc-status"];
    if (raw === undefined) continue;
    const code = Number(raw);
    if (code === 0) return "ok";
    const name = grpcStatusName(code);
    const message = decodeGrpcMessage(h?.["grpc-message"]);
    return new DaemonError(name, message === "" ? name : message, false);
  }
  return undefined;
}

export interface GrpcConnectionOptions {
  /** How long to wait for the connection itself (TCP and the server's HTTP/2 SETTINGS), not for answers; default 10 s. */
  connectTimeoutMs?: number;
}

/**
 * Opens (lazily, on first call) one HTTP/2 connection to `target`. Throws for a target it
 * cannot parse. A connection not established within `connectTimeoutMs` fails every call
 * on it as unreachable; calls themselves have no deadline (Start and Wait may take long).
 */
export function openGrpcConnection(target: string, options: GrpcConnectionOptions = {}): GrpcConnection {
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const { authority, socketPath } = parseTarget(target);
  let session: ClientHttp2Session | undefined;
  let sessionError: Error | undefined;
  const unreachableError = (err: Error): DaemonError =>
    new DaemonError("UNAVAILABLE", err.message, UNREACHABLE.test(`${(err as NodeJS.ErrnoException).code ?? ""} ${err.message}`), {
      cause: err,
    });

  const getSession = (): ClientHttp2Session => {
    if (session === undefined || session.closed || session.destroyed) {
      sessionError = undefined;
      session = http2Connect(
        `http://${authority}`,
        socketPath === undefined ? {} : { createConnection: () => netConnect(socketPath) },
      );
      const opening = session;
      opening.on("error", (err) => {
        sessionError = err;
      });
      const timer = setTimeout(() => {
        const err = Object.assign(new Error(`ETIMEDOUT: no HTTP/2 connection to ${target} within ${connectTimeoutMs} ms`), { code: "ETIMEDOUT" });
        sessionError = err;
        opening.destroy(err);
      }, connectTimeoutMs);
      // Connected means the server's SETTINGS arrived: a socket that accepts and stays
      // silent (a hung process, not an HTTP/2 server) counts as not connected.
      opening.once("remoteSettings", () => clearTimeout(timer));
      opening.once("close", () => clearTimeout(timer));
    }
    return session;
  };

  /** Starts a call; `onMessage` gets each message; the promise settles with the call's status. */
  const call = (path: string, request: Uint8Array | AsyncIterable<Uint8Array>, onMessage: (m: Buffer) => void): { done: Promise<void>; stream: ClientHttp2Stream } => {
    const stream = getSession().request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-accept-encoding": "identity",
      "user-agent": "shoal-cli",
    });
    const done = new Promise<void>((resolve, reject) => {
      const reader = new MessageReader();
      let headers: IncomingHttpHeaders | undefined;
      let trailers: IncomingHttpHeaders | undefined;
      let failed: DaemonError | undefined;
      stream.on("response", (h) => (headers = h));
      stream.on("trailers", (t) => (trailers = t));
      stream.on("data", (chunk: Buffer) => {
        if (failed !== undefined) return;
        try {
          for (const message of reader.push(chunk)) onMessage(message);
        } catch (err) {
          failed = err instanceof DaemonError ? err : new DaemonError("INTERNAL", (err as Error).message, false, { cause: err });
          stream.close(http2Constants.NGHTTP2_CANCEL);
        }
      });
      stream.on("error", (err) => {
        failed ??= unreachableError(sessionError ?? err);
      });
      stream.on("close", () => {
        if (failed !== undefined) return reject(failed);
        const status = statusOf(headers, trailers);
        if (status === "ok") {
          if (reader.pending > 0) return reject(new DaemonError("INTERNAL", "the api's response ended inside a message", false));
          return resolve();
        }
        if (status !== undefined) return reject(status);
        if (sessionError !== undefined) return reject(unreachableError(sessionError));
        const httpStatus = Number(headers?.[":status"] ?? 0);
        if (httpStatus === 0) return reject(new DaemonError("UNAVAILABLE", "the connection to the api closed before it answered", false));
        return reject(new DaemonError(grpcStatusName(codeForHttpStatus(httpStatus)), `the api answered HTTP ${httpStatus} without a gRPC status`, false));
      });
    });
    if (request instanceof Uint8Array) stream.end(frame(request));
    else {
      void (async () => {
        for await (const message of request) {
          if (stream.destroyed || stream.closed) return;
          if (!stream.write(frame(message))) await new Promise((resolve) => stream.once("drain", resolve));
        }
        stream.end();
      })().catch((err: unknown) => stream.destroy(err instanceof Error ? err : new Error(String(err))));
    }
    return { done, stream };
  };

  return {
    async unary(path, request) {
      const messages: Buffer[] = [];
      await call(path, request, (m) => messages.push(m)).done;
      if (messages.length !== 1) {
        throw new DaemonError("INTERNAL", `expected one response message from ${path}, got ${messages.length}`, false);
      }
      return messages[0]!;
    },
    async clientStream(path, requests) {
      const messages: Buffer[] = [];
      await call(path, requests, (m) => messages.push(m)).done;
      if (messages.length !== 1) {
        throw new DaemonError("INTERNAL", `expected one response message from ${path}, got ${messages.length}`, false);
      }
      return messages[0]!;
    },
    serverStream(path, request) {
      const queue: Buffer[] = [];
      let wake: (() => void) | undefined;
      const { done, stream } = call(path, request, (m) => {
        queue.push(m);
        wake?.();
      });
      let settled = false;
      let failure: unknown;
      done.then(
        () => (settled = true),
        (err: unknown) => {
          settled = true;
          failure = err;
        },
      ).finally(() => wake?.());
      async function* messages(): AsyncGenerator<Buffer> {
        for (;;) {
          while (queue.length > 0) yield queue.shift()!;
          if (settled) {
            if (failure !== undefined) throw failure;
            return;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      }
      return { messages: messages(), cancel: () => stream.close(http2Constants.NGHTTP2_CANCEL) };
    },
    close() {
      session?.close();
    },
  };
}
