import { AsyncLocalStorage } from "node:async_hooks";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import type { ClientReadableStream } from "@grpc/grpc-js";
import { fromGrpcError } from "./errors";
import { methodDefinition } from "./proto";
import type { CreateContainerRequest } from "./generated/containerd/services/containers/v1/CreateContainerRequest";
import type { CreateContainerResponse__Output } from "./generated/containerd/services/containers/v1/CreateContainerResponse";
import type { DeleteContainerRequest } from "./generated/containerd/services/containers/v1/DeleteContainerRequest";
import type { GetContainerRequest } from "./generated/containerd/services/containers/v1/GetContainerRequest";
import type { GetContainerResponse__Output } from "./generated/containerd/services/containers/v1/GetContainerResponse";
import type { ListContainersRequest } from "./generated/containerd/services/containers/v1/ListContainersRequest";
import type { ListContainersResponse__Output } from "./generated/containerd/services/containers/v1/ListContainersResponse";
import type { Envelope__Output } from "./generated/containerd/services/events/v1/Envelope";
import type { PublishRequest } from "./generated/containerd/services/events/v1/PublishRequest";
import type { SubscribeRequest } from "./generated/containerd/services/events/v1/SubscribeRequest";
import type { CheckpointTaskRequest } from "./generated/containerd/services/tasks/v1/CheckpointTaskRequest";
import type { CheckpointTaskResponse__Output } from "./generated/containerd/services/tasks/v1/CheckpointTaskResponse";
import type { CreateTaskRequest } from "./generated/containerd/services/tasks/v1/CreateTaskRequest";
import type { CreateTaskResponse__Output } from "./generated/containerd/services/tasks/v1/CreateTaskResponse";
import type { DeleteProcessRequest } from "./generated/containerd/services/tasks/v1/DeleteProcessRequest";
import type { DeleteResponse__Output } from "./generated/containerd/services/tasks/v1/DeleteResponse";
import type { DeleteTaskRequest } from "./generated/containerd/services/tasks/v1/DeleteTaskRequest";
import type { ExecProcessRequest } from "./generated/containerd/services/tasks/v1/ExecProcessRequest";
import type { GetRequest } from "./generated/containerd/services/tasks/v1/GetRequest";
import type { GetResponse__Output } from "./generated/containerd/services/tasks/v1/GetResponse";
import type { KillRequest } from "./generated/containerd/services/tasks/v1/KillRequest";
import type { ListPidsRequest } from "./generated/containerd/services/tasks/v1/ListPidsRequest";
import type { ListPidsResponse__Output } from "./generated/containerd/services/tasks/v1/ListPidsResponse";
import type { ListTasksRequest } from "./generated/containerd/services/tasks/v1/ListTasksRequest";
import type { ListTasksResponse__Output } from "./generated/containerd/services/tasks/v1/ListTasksResponse";
import type { PauseTaskRequest } from "./generated/containerd/services/tasks/v1/PauseTaskRequest";
import type { ResumeTaskRequest } from "./generated/containerd/services/tasks/v1/ResumeTaskRequest";
import type { StartRequest } from "./generated/containerd/services/tasks/v1/StartRequest";
import type { StartResponse__Output } from "./generated/containerd/services/tasks/v1/StartResponse";
import type { WaitRequest } from "./generated/containerd/services/tasks/v1/WaitRequest";
import type { WaitResponse__Output } from "./generated/containerd/services/tasks/v1/WaitResponse";
import type { Empty__Output } from "./generated/google/protobuf/Empty";

/** Request and response type of every unary RPC the client makes, keyed `Service/Method`. */
interface UnaryRpcs {
  "Containers/Create": [CreateContainerRequest, CreateContainerResponse__Output];
  "Containers/Get": [GetContainerRequest, GetContainerResponse__Output];
  "Containers/List": [ListContainersRequest, ListContainersResponse__Output];
  "Containers/Delete": [DeleteContainerRequest, Empty__Output];
  "Tasks/Create": [CreateTaskRequest, CreateTaskResponse__Output];
  "Tasks/Start": [StartRequest, StartResponse__Output];
  "Tasks/Wait": [WaitRequest, WaitResponse__Output];
  "Tasks/Kill": [KillRequest, Empty__Output];
  "Tasks/Delete": [DeleteTaskRequest, DeleteResponse__Output];
  "Tasks/DeleteProcess": [DeleteProcessRequest, DeleteResponse__Output];
  "Tasks/Get": [GetRequest, GetResponse__Output];
  "Tasks/List": [ListTasksRequest, ListTasksResponse__Output];
  "Tasks/Pause": [PauseTaskRequest, Empty__Output];
  "Tasks/Resume": [ResumeTaskRequest, Empty__Output];
  "Tasks/Exec": [ExecProcessRequest, Empty__Output];
  "Tasks/ListPids": [ListPidsRequest, ListPidsResponse__Output];
  "Tasks/Checkpoint": [CheckpointTaskRequest, CheckpointTaskResponse__Output];
  "Events/Publish": [PublishRequest, Empty__Output];
}
export type UnaryRpc = keyof UnaryRpcs;

/** RPCs made, keyed `Service/Method` (e.g. `Tasks/Create`). */
export type RpcCounts = Readonly<Record<string, number>>;

const SERVICES: Record<string, string> = {
  Containers: "containerd.services.containers.v1.Containers",
  Tasks: "containerd.services.tasks.v1.Tasks",
  Events: "containerd.services.events.v1.Events",
};

/**
 * One HTTP/2 connection to containerd's socket. Every call is counted per `Service/Method`,
 * in the running total and in every enclosing `count()` scope; unary calls carry the
 * `containerd-namespace` header and a deadline, and fail with domain errors.
 */
export class RpcChannel {
  private readonly client: Client;
  private readonly totals = new Map<string, number>();
  private readonly scopes = new AsyncLocalStorage<Map<string, number>[]>();

  constructor(
    socket: string,
    private readonly namespace: string,
    private readonly timeoutMs: number,
  ) {
    this.client = new Client(`unix://${socket}`, credentials.createInsecure(), {
      // containerd's grpc-go server; keep one connection, reconnect quickly after a daemon restart.
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 2000,
    });
  }

  /** `deadline: false` for calls that legitimately block (Tasks/Wait). */
  unary<K extends UnaryRpc>(rpc: K, request: UnaryRpcs[K][0], opts: { deadline?: boolean } = {}): Promise<UnaryRpcs[K][1]> {
    const [service, method] = split(rpc);
    const def = methodDefinition<UnaryRpcs[K][0], UnaryRpcs[K][1]>(service, method);
    const metadata = new Metadata();
    metadata.set("containerd-namespace", this.namespace);
    const callOptions = opts.deadline === false ? {} : { deadline: Date.now() + this.timeoutMs };
    this.record(rpc);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, metadata, callOptions, (err, res) => {
        if (err) reject(fromGrpcError(rpc.replace("/", "."), err));
        else if (res === undefined) reject(fromGrpcError(rpc.replace("/", "."), new Error("empty response")));
        else resolve(res);
      });
    });
  }

  /** Events/Subscribe: no namespace header (containerd ignores it here; filter instead), no deadline. */
  subscribe(request: SubscribeRequest): ClientReadableStream<Envelope__Output> {
    const def = methodDefinition<SubscribeRequest, Envelope__Output>(SERVICES.Events ?? "", "Subscribe");
    this.record("Events/Subscribe");
    return this.client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, request, new Metadata());
  }

  counts(): RpcCounts {
    return Object.fromEntries(this.totals);
  }

  async count<T>(fn: () => Promise<T>): Promise<{ result: T; rpcs: RpcCounts; total: number }> {
    const mine = new Map<string, number>();
    const result = await this.scopes.run([...(this.scopes.getStore() ?? []), mine], fn);
    let total = 0;
    for (const n of mine.values()) total += n;
    return { result, rpcs: Object.fromEntries(mine), total };
  }

  /**
   * Runs `fn` outside every `count()` scope: for the client's own background calls (events
   * stream, re-checks), whose callbacks may otherwise inherit the scope of whichever user
   * call happened to open the connection.
   */
  detached<T>(fn: () => T): T {
    return this.scopes.exit(fn);
  }

  close(): void {
    this.client.close();
  }

  private record(rpc: string): void {
    this.totals.set(rpc, (this.totals.get(rpc) ?? 0) + 1);
    for (const scope of this.scopes.getStore() ?? []) scope.set(rpc, (scope.get(rpc) ?? 0) + 1);
  }
}

function split(rpc: UnaryRpc): [string, string] {
  const [service = "", method = ""] = rpc.split("/");
  const full = SERVICES[service];
  if (full === undefined) throw new Error(`unknown containerd service ${service}`);
  return [full, method];
}
