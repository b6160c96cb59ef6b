import { Client, credentials, status as grpcStatus } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import type { Root, Type } from "protobufjs";
import type { ShoalEvent, SubscribeRequest, UnaryMethod, UnaryMethods } from "./api-types";
import { loadProtoRoot } from "./proto-root";

/**
 * A failed call to the api: the gRPC status code by name (`NOT_FOUND`, `FAILED_PRECONDITION`,
 * `OUT_OF_RANGE`, …) and the daemon's message. The CLI does not turn these into
 * `@shoal/domain` errors: it only prints them, and loading the domain package would load
 * zod at every start. `unreachable` is set when no api answered at the address at all.
 */
export class DaemonError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly unreachable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DaemonError";
  }
}

export interface EventSubscription {
  /** Events in log order; ends when `until_time` is reached; throws DaemonError. */
  events: AsyncIterable<ShoalEvent>;
  cancel(): void;
}

export interface ShoalApi {
  /** One RPC; rejects with DaemonError. */
  call<M extends UnaryMethod>(method: M, request: UnaryMethods[M][0]): Promise<UnaryMethods[M][1]>;
  subscribe(request: SubscribeRequest): EventSubscription;
  close(): void;
}

const UNREACHABLE = /No connection established|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENOENT|Name resolution failed/;

function toDaemonError(err: unknown): DaemonError {
  const e = err as Partial<ServiceError>;
  if (typeof e.code !== "number") {
    return new DaemonError("UNKNOWN", err instanceof Error ? err.message : String(err), false, { cause: err });
  }
  const code = grpcStatus[e.code] ?? `CODE_${e.code}`;
  const message = e.details !== undefined && e.details !== "" ? e.details : code;
  return new DaemonError(code, message, e.code === grpcStatus.UNAVAILABLE && UNREACHABLE.test(message), { cause: err });
}

interface Codec {
  path: string;
  serialize(value: object): Buffer;
  deserialize(bytes: Buffer): unknown;
}

const TO_OBJECT = { longs: String, defaults: true, arrays: true, objects: true } as const;

function codecFor(root: Root, method: string): Codec {
  const [serviceName, methodName] = method.split("/") as [string, string];
  const service = root.lookupService(`shoal.v1.${serviceName}`);
  const rpc = service.methods[methodName];
  if (rpc === undefined) throw new DaemonError("UNIMPLEMENTED", `the CLI has no method ${method}`, false);
  rpc.resolve();
  const req = rpc.resolvedRequestType as Type;
  const res = rpc.resolvedResponseType as Type;
  return {
    path: `/shoal.v1.${serviceName}/${methodName}`,
    serialize: (value) => Buffer.from(req.encode(req.fromObject(value)).finish()),
    deserialize: (bytes) => res.toObject(res.decode(bytes), TO_OBJECT),
  };
}

/**
 * Connects lazily to the api at `addr` (a gRPC target: `host:port`, `unix:/path`).
 * Nothing is sent until the first call; calls fail fast (UNAVAILABLE, `unreachable`)
 * when nothing listens there.
 */
export function connectShoalApi(addr: string): ShoalApi {
  const root = loadProtoRoot();
  const client = new Client(addr, credentials.createInsecure(), {
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  });
  const codecs = new Map<string, Codec>();
  const codec = (method: string): Codec => {
    let c = codecs.get(method);
    if (c === undefined) {
      c = codecFor(root, method);
      codecs.set(method, c);
    }
    return c;
  };
  return {
    call(method, request) {
      const c = codec(method);
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(c.path, c.serialize, c.deserialize, request as object, (err, value) => {
          if (err) reject(toDaemonError(err));
          else resolve(value as never);
        });
      });
    },
    subscribe(request) {
      const c = codec("Events/Subscribe");
      const call = client.makeServerStreamRequest(c.path, c.serialize, c.deserialize, request as object);
      async function* events(): AsyncGenerator<ShoalEvent> {
        try {
          for await (const event of call) yield event as ShoalEvent;
        } catch (err) {
          throw toDaemonError(err);
        }
      }
      return { events: events(), cancel: () => call.cancel() };
    },
    close() {
      client.close();
    },
  };
}
