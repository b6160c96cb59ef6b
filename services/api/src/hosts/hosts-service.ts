/** `shoal.v1.Hosts`: ListHosts, as `shoal hosts` shows them. */
import type { Server, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import type { Logger } from "pino";
import { InternalError, InvalidArgumentError } from "@shoal/domain";
import { unaryCall } from "../events/request-metrics";
import type { RequestMetrics } from "../events/request-metrics";
import { dateToTimestamp } from "../events/timestamp";
import type { HostsReader, HostView } from "./hosts-reader";

export interface HostsServiceDeps {
  /** `proto/shoal/v1/*.proto` loaded with @grpc/proto-loader, `keepCase: false`; must contain `shoal.v1.Hosts`. */
  packageDefinition: PackageDefinition;
  /** Where hosts come from: the api's hosts projection (`createPostgresHostsReader`), or a stand-in in tests. */
  hosts: HostsReader;
  logger?: Logger;
  /** Counts requests as `Hosts/<method>`. */
  metrics?: RequestMetrics;
  /** DrainHost and ActivateHost (host-drain.ts); absent (tests of ListHosts alone): INTERNAL. */
  drain?: {
    drain(host: string, opts: { checkpoint: boolean }): Promise<{ moved: string[]; failures: { container: string; error: string }[] }>;
    activate(host: string): Promise<void>;
  };
}

/**
 * Adds `shoal.v1.Hosts` to `server`, using the package definition passed in (it loads
 * nothing itself).
 */
export function registerHostsService(server: Server, deps: HostsServiceDeps): void {
  const definition = deps.packageDefinition["shoal.v1.Hosts"] as ServiceDefinition | undefined;
  if (definition === undefined) throw new InternalError("the package definition has no shoal.v1.Hosts service");
  const reader = deps.hosts;
  const implementation: UntypedServiceImplementation = {
    ListHosts: unaryCall("Hosts/ListHosts", deps, async () => ({ hosts: (await reader.listHosts()).map(toHostInfo) })),
    DrainHost: unaryCall("Hosts/DrainHost", deps, async (req: { host?: unknown; checkpoint?: unknown }) =>
      drainer().drain(hostOf(req), { checkpoint: req.checkpoint === true }),
    ),
    ActivateHost: unaryCall("Hosts/ActivateHost", deps, async (req: { host?: unknown }) => {
      await drainer().activate(hostOf(req));
      return {};
    }),
  };
  const drainer = () => {
    if (deps.drain === undefined) throw new InternalError("host drain is not wired into this server");
    return deps.drain;
  };
  server.addService(definition, implementation);
}

/** The request's host name; INVALID_ARGUMENT when missing. */
function hostOf(req: { host?: unknown }): string {
  const host = req.host;
  if (typeof host !== "string" || host === "") throw new InvalidArgumentError("a host name is required");
  return host;
}

function toHostInfo(h: HostView): Record<string, unknown> {
  return {
    name: h.name,
    status: h.status === "ready" && h.draining ? "draining" : h.status,
    lastHeartbeat: h.lastHeartbeat === null ? null : dateToTimestamp(h.lastHeartbeat),
    capabilitiesJson: JSON.stringify(h.capabilities ?? {}),
    memoryBytes: h.memoryBytes.toString(),
    memoryReservedBytes: h.memoryReservedBytes.toString(),
    containers: h.containers,
    // 0: the host reported no CPU count (proto3 has no null for a scalar).
    nanoCpus: (h.nanoCpus ?? 0n).toString(),
    nanoCpusReserved: h.nanoCpusReserved.toString(),
  };
}
