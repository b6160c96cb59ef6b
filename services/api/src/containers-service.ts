/**
 * shoal.v1.Containers over gRPC: requests are checked with zod at the edge
 * (INVALID_ARGUMENT naming the field), then handed to container-operations.
 */
import type { Server, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { z } from "zod";
import { InternalError, InvalidArgumentError } from "@shoal/domain";
import type { HostConfigInput } from "@shoal/domain";
import type { ApiContext } from "./api-context";
import { containerInfoToProto } from "./container-info";
import {
  containerLogs,
  createContainer,
  execInContainer,
  inspectContainer,
  killContainer,
  listContainers,
  pauseContainer,
  removeContainer,
  renameContainer,
  restartContainer,
  startContainer,
  stopContainer,
  topContainer,
  unpauseContainer,
  waitContainer,
} from "./container-operations";
import { unaryHandler } from "./unary-handler";

const str = z.string().max(4096);
const strs = z.array(str).max(4096);
const ref = z.object({ container: str });

const hostConfigSchema = z
  .object({
    ipcMode: str,
    shmSize: str,
    autoRemove: z.boolean(),
    runtime: str,
    securityOpt: strs,
    readonlyRootfs: z.boolean(),
    mounts: z.array(z.object({ source: str, target: str, readonly: z.boolean(), readonlyMode: str })).max(256),
    privileged: z.boolean(),
    memory: str,
    cpus: str,
    restartPolicy: str,
    stopOnDisconnect: str,
  })
  .nullish();

const requests = {
  CreateContainer: z.object({
    name: str,
    rootfs: str,
    image: str,
    args: strs,
    env: strs,
    cwd: str,
    hostConfig: hostConfigSchema,
    host: str,
    entrypoint: strs.optional(),
    entrypointSet: z.boolean().optional(),
    user: str.optional(),
  }),
  StartContainer: ref.extend({ checkpoint: str, host: str.nullish() }),
  StopContainer: ref.extend({ timeoutSeconds: z.number().int().min(-1).nullish() }),
  RestartContainer: ref.extend({ timeoutSeconds: z.number().int().min(-1).nullish() }),
  RenameContainer: ref.extend({ newName: str }),
  TopContainer: ref.extend({ psArgs: str }),
  KillContainer: ref.extend({ signal: str }),
  PauseContainer: ref,
  UnpauseContainer: ref,
  RemoveContainer: ref.extend({ force: z.boolean() }),
  InspectContainer: ref,
  ListContainers: z.object({ all: z.boolean(), filters: z.record(z.string(), str), pageSize: z.number().int(), pageToken: str }),
  ContainerLogs: ref.extend({ tail: z.number().int() }),
  ExecInContainer: ref.extend({ args: strs, env: strs, cwd: str, timeoutMs: z.number().int().min(0) }),
  WaitContainer: ref.extend({ condition: z.enum(["", "not-running", "next-exit", "removed"]) }),
};

/** Parses a request with its schema; InvalidArgumentError `invalid request: <field>: <problem>`. */
function parse<K extends keyof typeof requests>(method: K, req: unknown): z.infer<(typeof requests)[K]> {
  const r = requests[method].safeParse(req);
  if (r.success) return r.data as z.infer<(typeof requests)[K]>;
  const problems = r.error.issues.map((i) => `${i.path.join(".") || "request"}: ${i.message}`);
  throw new InvalidArgumentError(`invalid request: ${problems.join("; ")}`, { cause: r.error });
}

function hostConfigInput(hc: z.infer<typeof hostConfigSchema>): HostConfigInput {
  if (!hc) return {};
  return {
    ipcMode: hc.ipcMode,
    ...(hc.shmSize !== "" && hc.shmSize !== "0" ? { shmSize: hc.shmSize } : {}),
    autoRemove: hc.autoRemove,
    ...(hc.runtime !== "" ? { runtime: hc.runtime } : {}),
    securityOpt: hc.securityOpt,
    readonlyRootfs: hc.readonlyRootfs,
    mounts: hc.mounts.map((m) => ({
      type: "bind" as const,
      source: m.source,
      target: m.target,
      readonly: m.readonly,
      ...(m.readonlyMode !== "" ? { readonlyMode: m.readonlyMode as "recursive" | "nonrecursive" } : {}),
    })),
    privileged: hc.privileged,
    ...(hc.memory !== "" ? { memory: hc.memory } : {}),
    ...(hc.cpus !== "" ? { cpus: hc.cpus } : {}),
    ...(hc.restartPolicy !== "" ? { restart: hc.restartPolicy } : {}),
    ...(hc.stopOnDisconnect !== "" ? { stopOnDisconnect: hc.stopOnDisconnect } : {}),
  };
}

/** Adds shoal.v1.Containers to `server`. */
export function registerContainersService(server: Server, packageDefinition: PackageDefinition, ctx: ApiContext): void {
  const definition = packageDefinition["shoal.v1.Containers"] as ServiceDefinition | undefined;
  if (definition === undefined) throw new InternalError("the package definition has no shoal.v1.Containers service");
  const h = (method: keyof typeof requests, run: (req: any, signal: AbortSignal) => Promise<object>) =>
    unaryHandler(ctx, `Containers/${method}`, (req, signal) => run(parse(method, req), signal));
  const impl: UntypedServiceImplementation = {
    CreateContainer: h("CreateContainer", (r) =>
      createContainer(ctx, { ...r, hostConfig: hostConfigInput(r.hostConfig) }),
    ),
    StartContainer: h("StartContainer", (r) => startContainer(ctx, r.container, r.checkpoint, r.host ? { host: r.host } : {})),
    StopContainer: h("StopContainer", async (r) => (await stopContainer(ctx, r.container, r.timeoutSeconds ?? 10), {})),
    RestartContainer: h("RestartContainer", (r) => restartContainer(ctx, r.container, r.timeoutSeconds ?? 10)),
    RenameContainer: h("RenameContainer", async (r) => (await renameContainer(ctx, r.container, r.newName), {})),
    TopContainer: h("TopContainer", (r) => topContainer(ctx, r.container, r.psArgs)),
    KillContainer: h("KillContainer", async (r) => (await killContainer(ctx, r.container, r.signal), {})),
    PauseContainer: h("PauseContainer", async (r) => (await pauseContainer(ctx, r.container), {})),
    UnpauseContainer: h("UnpauseContainer", async (r) => (await unpauseContainer(ctx, r.container), {})),
    RemoveContainer: h("RemoveContainer", async (r) => (await removeContainer(ctx, r.container, r.force), {})),
    InspectContainer: h("InspectContainer", async (r) => {
      const { row, memberIds } = await inspectContainer(ctx, r.container);
      return { container: containerInfoToProto(row, memberIds, ctx.config.current().config) };
    }),
    ListContainers: h("ListContainers", async (r) => {
      const config = ctx.config.current().config;
      const { items, nextPageToken } = await listContainers(ctx, r);
      return { containers: items.map((i) => containerInfoToProto(i.row, i.memberIds, config)), nextPageToken };
    }),
    ContainerLogs: h("ContainerLogs", async (r) => ({ output: await containerLogs(ctx, r.container, r.tail) })),
    ExecInContainer: h("ExecInContainer", (r) => execInContainer(ctx, r.container, r)),
    WaitContainer: h("WaitContainer", (r, signal) => waitContainer(ctx, r.container, r.condition || "not-running", signal)),
  };
  server.addService(definition, impl);
}
