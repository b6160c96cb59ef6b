import { AsyncLocalStorage } from "node:async_hooks";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import type { CallOptions, ClientDuplexStream, ClientReadableStream } from "@grpc/grpc-js";
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
import type { AbortRequest } from "./generated/containerd/services/content/v1/AbortRequest";
import type { DeleteContentRequest } from "./generated/containerd/services/content/v1/DeleteContentRequest";
import type { InfoRequest } from "./generated/containerd/services/content/v1/InfoRequest";
import type { InfoResponse__Output } from "./generated/containerd/services/content/v1/InfoResponse";
import type { ListStatusesRequest } from "./generated/containerd/services/content/v1/ListStatusesRequest";
import type { ListStatusesResponse__Output } from "./generated/containerd/services/content/v1/ListStatusesResponse";
import type { ReadContentRequest } from "./generated/containerd/services/content/v1/ReadContentRequest";
import type { ReadContentResponse__Output } from "./generated/containerd/services/content/v1/ReadContentResponse";
import type { StatusRequest } from "./generated/containerd/services/content/v1/StatusRequest";
import type { StatusResponse__Output } from "./generated/containerd/services/content/v1/StatusResponse";
import type { UpdateRequest } from "./generated/containerd/services/content/v1/UpdateRequest";
import type { UpdateResponse__Output } from "./generated/containerd/services/content/v1/UpdateResponse";
import type { WriteContentRequest } from "./generated/containerd/services/content/v1/WriteContentRequest";
import type { WriteContentResponse__Output } from "./generated/containerd/services/content/v1/WriteContentResponse";
import type { ApplyRequest } from "./generated/containerd/services/diff/v1/ApplyRequest";
import type { ApplyResponse__Output } from "./generated/containerd/services/diff/v1/ApplyResponse";
import type { CreateImageRequest } from "./generated/containerd/services/images/v1/CreateImageRequest";
import type { CreateImageResponse__Output } from "./generated/containerd/services/images/v1/CreateImageResponse";
import type { DeleteImageRequest } from "./generated/containerd/services/images/v1/DeleteImageRequest";
import type { GetImageRequest } from "./generated/containerd/services/images/v1/GetImageRequest";
import type { GetImageResponse__Output } from "./generated/containerd/services/images/v1/GetImageResponse";
import type { ListImagesRequest } from "./generated/containerd/services/images/v1/ListImagesRequest";
import type { ListImagesResponse__Output } from "./generated/containerd/services/images/v1/ListImagesResponse";
import type { UpdateImageRequest } from "./generated/containerd/services/images/v1/UpdateImageRequest";
import type { UpdateImageResponse__Output } from "./generated/containerd/services/images/v1/UpdateImageResponse";
import type { AddResourceRequest } from "./generated/containerd/services/leases/v1/AddResourceRequest";
import type { CreateRequest as CreateLeaseRequest } from "./generated/containerd/services/leases/v1/CreateRequest";
import type { CreateResponse__Output as CreateLeaseResponse__Output } from "./generated/containerd/services/leases/v1/CreateResponse";
import type { DeleteRequest as DeleteLeaseRequest } from "./generated/containerd/services/leases/v1/DeleteRequest";
import type { DeleteResourceRequest } from "./generated/containerd/services/leases/v1/DeleteResourceRequest";
import type { ListRequest as ListLeasesRequest } from "./generated/containerd/services/leases/v1/ListRequest";
import type { ListResourcesRequest } from "./generated/containerd/services/leases/v1/ListResourcesRequest";
import type { ListResourcesResponse__Output } from "./generated/containerd/services/leases/v1/ListResourcesResponse";
import type { ListResponse__Output as ListLeasesResponse__Output } from "./generated/containerd/services/leases/v1/ListResponse";
import type { CommitSnapshotRequest } from "./generated/containerd/services/snapshots/v1/CommitSnapshotRequest";
import type { ListSnapshotsRequest } from "./generated/containerd/services/snapshots/v1/ListSnapshotsRequest";
import type { ListSnapshotsResponse__Output } from "./generated/containerd/services/snapshots/v1/ListSnapshotsResponse";
import type { MountsRequest } from "./generated/containerd/services/snapshots/v1/MountsRequest";
import type { MountsResponse__Output } from "./generated/containerd/services/snapshots/v1/MountsResponse";
import type { PrepareSnapshotRequest } from "./generated/containerd/services/snapshots/v1/PrepareSnapshotRequest";
import type { PrepareSnapshotResponse__Output } from "./generated/containerd/services/snapshots/v1/PrepareSnapshotResponse";
import type { RemoveSnapshotRequest } from "./generated/containerd/services/snapshots/v1/RemoveSnapshotRequest";
import type { StatSnapshotRequest } from "./generated/containerd/services/snapshots/v1/StatSnapshotRequest";
import type { StatSnapshotResponse__Output } from "./generated/containerd/services/snapshots/v1/StatSnapshotResponse";
import type { ViewSnapshotRequest } from "./generated/containerd/services/snapshots/v1/ViewSnapshotRequest";
import type { ViewSnapshotResponse__Output } from "./generated/containerd/services/snapshots/v1/ViewSnapshotResponse";

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
  "Content/Info": [InfoRequest, InfoResponse__Output];
  "Content/Update": [UpdateRequest, UpdateResponse__Output];
  "Content/Delete": [DeleteContentRequest, Empty__Output];
  "Content/Status": [StatusRequest, StatusResponse__Output];
  "Content/ListStatuses": [ListStatusesRequest, ListStatusesResponse__Output];
  "Content/Abort": [AbortRequest, Empty__Output];
  "Images/Get": [GetImageRequest, GetImageResponse__Output];
  "Images/List": [ListImagesRequest, ListImagesResponse__Output];
  "Images/Create": [CreateImageRequest, CreateImageResponse__Output];
  "Images/Update": [UpdateImageRequest, UpdateImageResponse__Output];
  "Images/Delete": [DeleteImageRequest, Empty__Output];
  "Snapshots/Prepare": [PrepareSnapshotRequest, PrepareSnapshotResponse__Output];
  "Snapshots/View": [ViewSnapshotRequest, ViewSnapshotResponse__Output];
  "Snapshots/Mounts": [MountsRequest, MountsResponse__Output];
  "Snapshots/Commit": [CommitSnapshotRequest, Empty__Output];
  "Snapshots/Remove": [RemoveSnapshotRequest, Empty__Output];
  "Snapshots/Stat": [StatSnapshotRequest, StatSnapshotResponse__Output];
  "Diff/Apply": [ApplyRequest, ApplyResponse__Output];
  "Leases/Create": [CreateLeaseRequest, CreateLeaseResponse__Output];
  "Leases/Delete": [DeleteLeaseRequest, Empty__Output];
  "Leases/List": [ListLeasesRequest, ListLeasesResponse__Output];
  "Leases/AddResource": [AddResourceRequest, Empty__Output];
  "Leases/DeleteResource": [DeleteResourceRequest, Empty__Output];
  "Leases/ListResources": [ListResourcesRequest, ListResourcesResponse__Output];
}
export type UnaryRpc = keyof UnaryRpcs;

/** Server-streaming RPCs (one request, a stream of responses), except Events/Subscribe. */
interface ServerStreamRpcs {
  "Content/Read": [ReadContentRequest, ReadContentResponse__Output];
  "Snapshots/List": [ListSnapshotsRequest, ListSnapshotsResponse__Output];
}
export type ServerStreamRpc = keyof ServerStreamRpcs;

/** Bidirectional RPCs. */
interface DuplexRpcs {
  "Content/Write": [WriteContentRequest, WriteContentResponse__Output];
}
export type DuplexRpc = keyof DuplexRpcs;

export interface CallOpts {
  /** false for calls that legitimately block or move much data; default true (the channel's timeout). */
  deadline?: boolean;
  /** Lease id sent as the `containerd-lease` header: what the call creates is kept by that lease. */
  lease?: string;
}

/** RPCs made, keyed `Service/Method` (e.g. `Tasks/Create`). */
export type RpcCounts = Readonly<Record<string, number>>;

const SERVICES: Record<string, string> = {
  Containers: "containerd.services.containers.v1.Containers",
  Tasks: "containerd.services.tasks.v1.Tasks",
  Events: "containerd.services.events.v1.Events",
  Content: "containerd.services.content.v1.Content",
  Images: "containerd.services.images.v1.Images",
  Snapshots: "containerd.services.snapshots.v1.Snapshots",
  Diff: "containerd.services.diff.v1.Diff",
  Leases: "containerd.services.leases.v1.Leases",
};

/**
 * One HTTP/2 connection to containerd's socket. Every call is counted per `Service/Method`,
 * in the running total and in every enclosing `count()` scope (a stream counts once, when
 * opened). Every call but Events/Subscribe carries the `containerd-namespace` header, and the
 * `containerd-lease` header when given one; unary calls and server streams have a deadline
 * unless told otherwise, and fail with domain errors.
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

  /** `deadline: false` for calls that legitimately block (Tasks/Wait) or take long (Diff/Apply). */
  unary<K extends UnaryRpc>(rpc: K, request: UnaryRpcs[K][0], opts: CallOpts = {}): Promise<UnaryRpcs[K][1]> {
    const def = methodDefinition<UnaryRpcs[K][0], UnaryRpcs[K][1]>(...split(rpc));
    this.record(rpc);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, this.metadata(opts), this.callOptions(opts), (err, res) => {
        if (err) reject(fromGrpcError(rpc.replace("/", "."), err));
        else if (res === undefined) reject(fromGrpcError(rpc.replace("/", "."), new Error("empty response")));
        else resolve(res);
      });
    });
  }

  /**
   * Opens a server stream now (counted now, in the caller's scopes) and yields its messages.
   * Failures reject the iteration with domain errors; leaving the loop early cancels the call.
   */
  serverStream<K extends ServerStreamRpc>(rpc: K, request: ServerStreamRpcs[K][0], opts: CallOpts = {}): AsyncIterable<ServerStreamRpcs[K][1]> {
    const def = methodDefinition<ServerStreamRpcs[K][0], ServerStreamRpcs[K][1]>(...split(rpc));
    this.record(rpc);
    const call = this.client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, request, this.metadata(opts), this.callOptions(opts));
    return iterateStream(rpc, call);
  }

  /**
   * Opens a bidirectional stream (counted now). The raw call is returned: the caller writes,
   * ends or cancels it, and converts its errors with `fromGrpcError`. No deadline.
   */
  duplex<K extends DuplexRpc>(rpc: K, opts: Omit<CallOpts, "deadline"> = {}): ClientDuplexStream<DuplexRpcs[K][0], DuplexRpcs[K][1]> {
    const def = methodDefinition<DuplexRpcs[K][0], DuplexRpcs[K][1]>(...split(rpc));
    this.record(rpc);
    return this.client.makeBidiStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, this.metadata(opts), {});
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

  private metadata(opts: CallOpts): Metadata {
    const metadata = new Metadata();
    metadata.set("containerd-namespace", this.namespace);
    if (opts.lease !== undefined) metadata.set("containerd-lease", opts.lease);
    return metadata;
  }

  private callOptions(opts: CallOpts): CallOptions {
    return opts.deadline === false ? {} : { deadline: Date.now() + this.timeoutMs };
  }

  private record(rpc: string): void {
    this.totals.set(rpc, (this.totals.get(rpc) ?? 0) + 1);
    for (const scope of this.scopes.getStore() ?? []) scope.set(rpc, (scope.get(rpc) ?? 0) + 1);
  }
}

async function* iterateStream<T>(rpc: string, call: ClientReadableStream<T>): AsyncGenerator<T> {
  let done = false;
  try {
    for await (const message of call) yield message as T;
    done = true;
  } catch (err) {
    done = true;
    throw fromGrpcError(rpc.replace("/", "."), err);
  } finally {
    // The consumer left early (break, throw): stop the server sending the rest.
    if (!done) call.cancel();
  }
}

function split(rpc: string): [string, string] {
  const [service = "", method = ""] = rpc.split("/");
  const full = SERVICES[service];
  if (full === undefined) throw new Error(`unknown containerd service ${service}`);
  return [full, method];
}
