/** `shoal.v1.Hosts`: ListHosts, as `shoal hosts` shows them. */
import type {
  sendUnaryData,
  Server,
  ServerUnaryCall,
  ServiceDefinition,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import type { Logger } from "pino";
import { InternalError, isShoalError } from "@shoal/domain";
import { toServiceError } from "../events/grpc-error";
import { dateToTimestamp } from "../events/timestamp";
import type { HostsReader, HostView } from "./hosts-reader";

export interface HostsServiceDeps {
  /** `proto/shoal/v1/*.proto` loaded with @grpc/proto-loader, `keepCase: false`; must contain `shoal.v1.Hosts`. */
  packageDefinition: PackageDefinition;
  /** Usually `createPostgresHostsReader(db)`. */
  hosts: HostsReader;
  logger?: Logger;
}

/** Adds `shoal.v1.Hosts` to `server`, using the package definition passed in (it loads nothing itself). */
export function registerHostsService(server: Server, deps: HostsServiceDeps): void {
  const definition = deps.packageDefinition["shoal.v1.Hosts"] as ServiceDefinition | undefined;
  if (definition === undefined) throw new InternalError("the package definition has no shoal.v1.Hosts service");
  const implementation: UntypedServiceImplementation = {
    ListHosts: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      deps.hosts.listHosts().then(
        (hosts) => callback(null, { hosts: hosts.map(toHostInfo) }),
        (err: unknown) => {
          if (!isShoalError(err) || err.code === "INTERNAL") deps.logger?.error({ err }, "ListHosts failed");
          callback(toServiceError(err));
        },
      );
    },
  };
  server.addService(definition, implementation);
}

function toHostInfo(h: HostView): Record<string, unknown> {
  return {
    name: h.name,
    status: h.status,
    lastHeartbeat: h.lastHeartbeat === null ? null : dateToTimestamp(h.lastHeartbeat),
    capabilitiesJson: JSON.stringify(h.capabilities ?? {}),
    memoryBytes: h.memoryBytes.toString(),
    memoryReservedBytes: h.memoryReservedBytes.toString(),
    containers: h.containers,
  };
}
