/**
 * The api's gRPC server: loads `proto/shoal/v1/*.proto` once and registers every service
 * on one port — Containers (here), Checkpoints, Images, Events, Config and Hosts
 * (checkpoints/, images/, events/, config-service/, hosts/), health and reflection (health/).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { InternalError, UnavailableError } from "@shoal/domain";
import type { ApiContext } from "./api-context";
import { registerContainersService } from "./containers-service";
import { registerCheckpointsService } from "./checkpoints/checkpoints-service";
import { registerImagesService } from "./images/images-service";
import { registerEventsService } from "./events/index";
import { registerConfigService } from "./config-service/index";
import { createPostgresHostsReader, registerHostsService } from "./hosts/index";
import { activateHost, drainHost } from "./host-drain";
import { registerHealthAndReflection } from "./health/health-and-reflection";
import type { HealthReporter } from "./health/health-and-reflection";
import { loadShoalProtos } from "./health/shoal-protos";

/**
 * The folder holding `shoal/v1/*.proto`: `SHOAL_PROTO_DIR` when set, else the nearest
 * `proto/` walking up from this file (so it works from the repository and from a bundle
 * placed inside it). InternalError when none is found.
 */
export function resolveProtoDir(env: NodeJS.ProcessEnv = process.env, from: string = fileURLToPath(import.meta.url)): string {
  if (env.SHOAL_PROTO_DIR) return env.SHOAL_PROTO_DIR;
  for (let dir = path.dirname(from); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "proto", "shoal", "v1"))) return path.join(dir, "proto");
    if (path.dirname(dir) === dir) break;
  }
  throw new InternalError(`no proto/shoal/v1 folder above ${from}; set SHOAL_PROTO_DIR`);
}

export const API_SERVICE_NAMES = ["shoal.v1.Containers", "shoal.v1.Checkpoints", "shoal.v1.Images", "shoal.v1.Events", "shoal.v1.Config", "shoal.v1.Hosts"] as const;

export interface ApiServer {
  /** `host:port` actually bound (port 0 in the address picks a free one). */
  address: string;
  health: HealthReporter;
  /** Stops taking calls; waits up to `graceMs` for running ones, then cancels them. */
  stop(graceMs?: number): Promise<void>;
}

export async function startApiServer(opts: {
  ctx: ApiContext;
  address: string;
  protoDir: string;
  js: JetStreamClient;
  jsm: JetStreamManager;
}): Promise<ApiServer> {
  const { ctx } = opts;
  const packageDefinition = loadShoalProtos(opts.protoDir);
  const server = new grpc.Server();
  registerContainersService(server, packageDefinition, ctx);
  registerCheckpointsService(server, packageDefinition, ctx);
  registerImagesService(server, packageDefinition, ctx);
  const common = { packageDefinition, logger: ctx.logger, metrics: ctx.metrics };
  registerEventsService(server, { ...common, js: opts.js, jsm: opts.jsm, prefix: ctx.prefix, db: ctx.db });
  registerConfigService(server, {
    ...common,
    store: ctx.store,
    onChanged: () => void ctx.refreshConfig().catch((err: unknown) => ctx.logger.warn({ err }, "could not refresh the config")),
  });
  registerHostsService(server, {
    ...common,
    hosts: createPostgresHostsReader({ db: ctx.db, projection: ctx.hostsProjection }),
    drain: { drain: (host, o) => drainHost(ctx, host, o), activate: (host) => activateHost(ctx, host) },
  });
  const health = registerHealthAndReflection(server, { serviceNames: API_SERVICE_NAMES, protoDir: opts.protoDir });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(opts.address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  ).catch((err: unknown) => {
    throw new UnavailableError(`could not listen on ${opts.address}`, { cause: err });
  });
  const host = opts.address.slice(0, opts.address.lastIndexOf(":"));
  return {
    address: `${host}:${port}`,
    health,
    async stop(graceMs = 5_000) {
      health.setAllNotServing();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
      server.forceShutdown();
    },
  };
}
