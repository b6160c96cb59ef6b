import type { Root, Type } from "protobufjs";
import type { ShoalEvent, SubscribeRequest, UnaryMethod, UnaryMethods } from "./api-types";
import { DaemonError } from "./daemon-error";
import { openGrpcConnection } from "./grpc-connection";
import { loadProtoRoot } from "./proto-root";

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
  close(): void;
}

interface Codec {
  path: string;
  serialize(value: object): Uint8Array;
  deserialize(bytes: Uint8Array): unknown;
}

const TO_OBJECT = { longs: String, defaults: true, arrays: true, objects: true } as const;

function codecFor(root: Root, method: string): Codec {
  const [serviceName, methodName] = method.split("/") as [string, string];
  const rpc = root.lookupService(`shoal.v1.${serviceName}`).methods[methodName];
  if (rpc === undefined) throw new DaemonError("UNIMPLEMENTED", `the CLI has no method ${method}`, false);
  rpc.resolve();
  const req = rpc.resolvedRequestType as Type;
  const res = rpc.resolvedResponseType as Type;
  return {
    path: `/shoal.v1.${serviceName}/${methodName}`,
    serialize: (value) => req.encode(req.fromObject(value)).finish(),
    deserialize: (bytes) => res.toObject(res.decode(bytes), TO_OBJECT),
  };
}

/**
 * A client of the api at `addr` (`host:port` or `unix:/path`). Nothing is sent until the
 * first call; a call fails fast with an `unreachable` DaemonError when nothing listens
 * there. Throws for an address it cannot parse.
 */
export function connectShoalApi(addr: string): ShoalApi {
  const connection = openGrpcConnection(addr);
  const root = loadProtoRoot();
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
    async call(method, request) {
      const c = codec(method);
      return c.deserialize(await connection.unary(c.path, c.serialize(request as object))) as never;
    },
    subscribe(request) {
      const c = codec("Events/Subscribe");
      const { messages, cancel } = connection.serverStream(c.path, c.serialize(request as object));
      async function* events(): AsyncGenerator<ShoalEvent> {
        for await (const message of messages) yield c.deserialize(message) as ShoalEvent;
      }
      return { events: events(), cancel };
    },
    close() {
      connection.close();
    },
  };
}
