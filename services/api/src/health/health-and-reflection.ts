/**
 * gRPC health checking (`grpc.health.v1.Health`) and server reflection (v1 and v1alpha)
 * on the api's port, so `grpc_health_probe` and `grpcurl` work without extra files.
 */
import path from "node:path";
import type { Server } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProtoPath } from "grpc-health-check";
import type { ServingStatus } from "grpc-health-check";
import { loadShoalProtos } from "./shoal-protos";

export const HEALTH_SERVICE_NAME = "grpc.health.v1.Health";

export interface HealthAndReflectionOptions {
  /**
   * Fully-qualified names of the services registered on `server` (e.g. `shoal.v1.Containers`).
   * Each starts SERVING, as does the overall status `""`; reflection describes exactly these
   * plus the health service.
   */
  serviceNames: readonly string[];
  /** The folder holding `shoal/v1/*.proto` (the repository's `proto/`); loaded here for reflection. */
  protoDir: string;
}

export interface HealthReporter {
  /** Sets one service's status (`""` is the overall status); watchers are told at once. */
  setStatus(serviceName: string, status: ServingStatus): void;
  /** Every service and the overall status NOT_SERVING: call first in a graceful stop, so load balancers drain. */
  setAllNotServing(): void;
}

/**
 * Adds the health and reflection services to `server` (before it starts). Loads the protos
 * itself from `protoDir` (plus the health proto shipped with grpc-health-check); throws
 * InternalError when they cannot be loaded.
 */
export function registerHealthAndReflection(server: Server, options: HealthAndReflectionOptions): HealthReporter {
  const names = ["", ...options.serviceNames];
  const health = new HealthImplementation(Object.fromEntries(names.map((n) => [n, "SERVING" as const])));
  health.addToServer(server);

  const healthDir = path.resolve(path.dirname(healthProtoPath), "..", "..");
  // keepCase: reflection clients (grpcurl) must see the field names the .proto files declare.
  const definition = loadShoalProtos(options.protoDir, {
    files: [path.relative(healthDir, healthProtoPath)],
    includeDirs: [healthDir],
    options: { keepCase: true },
  });
  const reflection = new ReflectionService(definition, { services: [...options.serviceNames, HEALTH_SERVICE_NAME] });
  reflection.addToServer(server);

  return {
    setStatus: (serviceName, status) => health.setStatus(serviceName, status),
    setAllNotServing: () => {
      for (const n of names) health.setStatus(n, "NOT_SERVING");
    },
  };
}
