/**
 * For int tests: a grpc-js server on 127.0.0.1 with only the services a test registers,
 * and untyped clients for them from the same package definition. Not used in production.
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { loadShoalProtos } from "./shoal-protos";

/** The repository's `proto/` folder. */
export const REPO_PROTO_DIR = fileURLToPath(new URL("../../../../proto", import.meta.url));

export interface TestGrpcServer {
  address: string;
  packageDefinition: PackageDefinition;
  /** A client for a fully-qualified service name, e.g. `shoal.v1.Events`. */
  client(serviceName: string): grpc.Client & Record<string, any>;
  /** Closes clients, then the server (forcefully: open streams are cancelled). */
  close(): Promise<void>;
}

export async function startTestGrpcServer(
  register: (server: grpc.Server, packageDefinition: PackageDefinition) => void,
): Promise<TestGrpcServer> {
  const packageDefinition = loadShoalProtos(REPO_PROTO_DIR);
  const server = new grpc.Server();
  register(server, packageDefinition);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const address = `127.0.0.1:${port}`;
  const clients: grpc.Client[] = [];
  return {
    address,
    packageDefinition,
    client(serviceName) {
      const Ctor = grpc.makeGenericClientConstructor(
        packageDefinition[serviceName] as grpc.ServiceDefinition,
        serviceName,
      );
      const c = new Ctor(address, grpc.credentials.createInsecure());
      clients.push(c);
      return c as grpc.Client & Record<string, any>;
    },
    async close() {
      for (const c of clients) c.close();
      server.forceShutdown();
    },
  };
}

/** Calls a unary method and resolves with its response, or rejects with the ServiceError. */
export function unary<T>(client: Record<string, any>, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) =>
    client[method](request, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res))),
  );
}
