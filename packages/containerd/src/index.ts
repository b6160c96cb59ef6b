export { connectContainerd } from "./connect-containerd";
export type {
  CheckpointDescriptor,
  ConnectContainerdOptions,
  Container,
  ContainerInfo,
  ContainerdClient,
  CreateContainerOptions,
  ExecOptions,
  LoadedTask,
  Mount,
  NewTaskOptions,
  Process,
  ProcessState,
  RuncCheckpointOptions,
  RuncOptions,
  RuntimeConfig,
  Stdio,
  Task,
  TaskStatus,
} from "./containerd-client";
export type { ContainerdEvent, ContainerdEventOf, ContainerdEventType, ContainerdEvents } from "./event-stream";
export type { ExitStatus } from "./exit-tracker";
export type {
  BlobSource,
  ContentInfo,
  ContentStore,
  Descriptor,
  DiffService,
  ImageRecord,
  ImageStore,
  Lease,
  LeaseManager,
  LeaseResource,
  NewImageRecord,
  SnapshotInfo,
  SnapshotKind,
  SnapshotOptions,
  Snapshotter,
  WriteOptions,
  WriteResult,
  WriteStatus,
} from "./image-services";
export type { RpcCounts } from "./rpc-channel";
