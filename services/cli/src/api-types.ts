/**
 * The messages of `proto/shoal/v1` as the CLI sees them on the wire: field names as in
 * the .proto files (snake_case), int64 as decimal strings, bytes as Uint8Array, unset
 * message fields as null, unset scalars as their defaults. Only what the CLI reads or
 * sends is typed here; the .proto files stay the contract.
 */

export interface Timestamp {
  seconds: string;
  nanos: number;
}

export interface BindMount {
  source: string;
  target: string;
  readonly: boolean;
  readonly_mode: string;
}

export interface HostConfig {
  ipc_mode: string;
  shm_size: string;
  auto_remove: boolean;
  runtime: string;
  security_opt: string[];
  readonly_rootfs: boolean;
  mounts: BindMount[];
  privileged: boolean;
  memory: string;
  cpus: string;
  restart_policy: string;
  stop_on_disconnect: string;
}

export interface CreateContainerRequest {
  name: string;
  rootfs: string;
  image: string;
  args: string[];
  env: string[];
  cwd: string;
  host_config: HostConfig;
  host: string;
  entrypoint?: string[];
  entrypoint_set?: boolean;
  user?: string;
}
export interface CreateContainerResponse {
  id: string;
  name: string;
}

export interface StartContainerRequest {
  container: string;
  checkpoint?: string;
  host?: string;
}

/** shoal.v1.CheckpointInfo. */
export interface CheckpointInfo {
  container_id: string;
  name: string;
  digest: string;
  size_bytes: string | number;
  mode: string;
  host: string;
  member_ids: string[];
  criu_version: string;
  kernel: string;
  created_at: Timestamp | null;
  replicated: boolean;
  shm_saved: boolean;
  leave_running: boolean;
  container_name: string;
}
export interface StartContainerResponse {
  id: string;
  already_running: boolean;
  failed: boolean;
  exit_code: number;
  error: string;
  pid: number;
  host: string;
}

export interface ContainerStateInfo {
  status: string;
  running: boolean;
  paused: boolean;
  oom_killed: boolean;
  dead: boolean;
  pid: number;
  exit_code: number;
  error: string;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
}

export interface IpcGroupInfo {
  owner_id: string;
  member_ids: string[];
  role: string;
  shm_size_bytes: string;
  shm_mount_path: string;
}

export interface LockedInRuntime {
  name: string;
  path: string;
  args: string[];
}

export interface ContainerInfo {
  id: string;
  name: string;
  created_at: Timestamp | null;
  state: ContainerStateInfo | null;
  host_config: HostConfig | null;
  effective_ipc_mode: string;
  effective_shm_size_bytes: string;
  host: string;
  ipc_group: IpcGroupInfo | null;
  rootfs: string;
  image: string;
  args: string[];
  env: string[];
  runtime: LockedInRuntime | null;
  config_version: string;
  ipc_namespace_inode: string;
  restart_count: number;
  // Added fields (older apis send none).
  image_id?: string;
  image_digest?: string;
  user?: string;
  working_dir?: string;
  stop_signal?: string;
  entrypoint?: string[];
  cmd?: string[];
}

export interface ImageRunConfig {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  working_dir: string;
  user: string;
  stop_signal: string;
  labels: Record<string, string>;
}

export interface ImageInfo {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size_bytes: string;
  created: Timestamp | null;
  config: ImageRunConfig | null;
  os: string;
  architecture: string;
  hosts: string[];
  diff_ids: string[];
}

export interface PullProgress {
  id: string;
  status: string;
  current: string;
  total: string;
  done: boolean;
  digest: string;
  image: ImageInfo | null;
  host: string;
}

export interface PullImageRequest {
  reference: string;
  host: string;
  auth?: { username: string; password: string };
}

export interface ListContainersRequest {
  all: boolean;
  filters: Record<string, string>;
  page_size: number;
  page_token: string;
}
export interface ListContainersResponse {
  containers: ContainerInfo[];
  next_page_token: string;
}

export interface ExecInContainerRequest {
  container: string;
  args: string[];
  env: string[];
  cwd: string;
  timeout_ms?: number;
}
export interface ExecInContainerResponse {
  exit_code: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
}

export interface WaitContainerResponse {
  exit_code: number;
  error: string;
}

export interface TopContainerResponse {
  titles: string[];
  processes: Array<{ fields: string[] }>;
}

export interface ContainerLogsResponse {
  output: Uint8Array;
}

export interface HostInfo {
  name: string;
  status: string;
  last_heartbeat: Timestamp | null;
  capabilities_json: string;
  memory_bytes: string;
  memory_reserved_bytes: string;
  containers: number;
  /** CPUs the host offers, nano-CPUs as a decimal string; "0" when its agent reported none (absent from an older api). */
  nano_cpus?: string;
  /** CPUs (`--cpus`) its containers reserve, nano-CPUs as a decimal string (absent from an older api). */
  nano_cpus_reserved?: string;
}

export interface ConfigResponse {
  version: string;
  config_json: string;
  changed: boolean;
}

export interface EventFilter {
  key: string;
  values: string[];
}

export interface SubscribeRequest {
  since_cursor?: string;
  since_time?: Timestamp;
  until_time?: Timestamp;
  filters: EventFilter[];
}

export interface ShoalEvent {
  cursor: string;
  event_id: string;
  type: string;
  stream_id: string;
  stream_version: string;
  recorded_at: Timestamp | null;
  data_json: string;
  metadata_json: string;
  schema_version: number;
}

type Empty = Record<string, never>;

/** Every unary RPC the CLI calls: `"<Service>/<Method>"` → [request, response]. */
export interface UnaryMethods {
  "Containers/CreateContainer": [CreateContainerRequest, CreateContainerResponse];
  "Containers/StartContainer": [StartContainerRequest, StartContainerResponse];
  "Containers/StopContainer": [{ container: string; timeout_seconds?: number }, Empty];
  "Containers/RestartContainer": [{ container: string; timeout_seconds?: number }, StartContainerResponse];
  "Containers/RenameContainer": [{ container: string; new_name: string }, Empty];
  "Containers/TopContainer": [{ container: string; ps_args: string }, TopContainerResponse];
  "Containers/KillContainer": [{ container: string; signal: string }, Empty];
  "Containers/PauseContainer": [{ container: string }, Empty];
  "Containers/UnpauseContainer": [{ container: string }, Empty];
  "Containers/RemoveContainer": [{ container: string; force: boolean }, Empty];
  "Containers/InspectContainer": [{ container: string }, { container: ContainerInfo | null }];
  "Containers/ListContainers": [ListContainersRequest, ListContainersResponse];
  "Containers/ContainerLogs": [{ container: string; tail: number }, ContainerLogsResponse];
  "Containers/ExecInContainer": [ExecInContainerRequest, ExecInContainerResponse];
  /** condition: "not-running" (default), "next-exit" (send before StartContainer), "removed". */
  "Containers/WaitContainer": [{ container: string; condition?: string }, WaitContainerResponse];
  "Hosts/ListHosts": [Empty, { hosts: HostInfo[] }];
  "Hosts/DrainHost": [{ host: string; checkpoint?: boolean }, { moved: string[]; failures: { container: string; error: string }[] }];
  "Hosts/ActivateHost": [{ host: string }, Empty];
  "Config/ShowConfig": [Empty, ConfigResponse];
  "Config/SetConfig": [{ assignments: string[] }, ConfigResponse];
  "Config/ReloadConfig": [{ config_json: string }, ConfigResponse];
  "Checkpoints/CreateCheckpoint": [{ container: string; name: string; leave_running: boolean; group: boolean }, { checkpoint: CheckpointInfo | null }];
  "Checkpoints/ListCheckpoints": [{ container: string }, { checkpoints: CheckpointInfo[] }];
  "Checkpoints/RemoveCheckpoint": [{ container: string; name: string }, Empty];
  "Images/ListImages": [{ host: string; filters: Record<string, string> }, { images: ImageInfo[] }];
  "Images/InspectImage": [{ image: string }, { image: ImageInfo | null }];
  "Images/RemoveImage": [{ image: string; force: boolean }, { untagged: string[]; deleted: string[] }];
  "Images/TagImage": [{ source: string; target: string }, Empty];
}
export type UnaryMethod = keyof UnaryMethods;
