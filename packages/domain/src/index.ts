export {
  ShoalError,
  NotFoundError,
  AlreadyExistsError,
  InvalidArgumentError,
  FailedPreconditionError,
  AbortedError,
  UnavailableError,
  InternalError,
  isShoalError,
  errorFromCode,
} from "./errors";
export type { ErrorCode } from "./errors";

export {
  BUILTIN_DEFAULT_IPC_MODE,
  parseIpcMode,
  formatIpcMode,
  parseDefaultIpcMode,
  resolveIpcMode,
  isShareable,
  joinedContainerRef,
} from "./ipc-mode";
export type { IpcMode, ResolvedIpcMode, DefaultIpcMode, IpcPlan } from "./ipc-mode";

export { ipcJoinRefusal, ipcJoinTargetOf } from "./ipc-join";
export type { IpcJoinTarget } from "./ipc-join";

export { DEFAULT_SHM_SIZE_BYTES, parseShmSize, validateShmSizeForMode, effectiveShmSize } from "./shm-size";
export type { EffectiveShmSizeInput } from "./shm-size";

export { isValidContainerName, normalizeContainerName, normalizeContainerRef } from "./container-name";
export { SHORT_ID_LENGTH, isContainerId, looksLikeIdPrefix, parseContainerId, shortContainerId } from "./container-id";

export { parseSecurityOpt } from "./security-opt";
export type { SecurityOpt, SecurityOptKey } from "./security-opt";

export { formatDurationMs, parseDurationMs } from "./duration";
export { MIN_MEMORY_BYTES, MIN_NANO_CPUS, NANO_CPUS_PER_CPU, cpuQuota, formatCpus, parseCpus, parseMemory } from "./resources";
export { NO_RESTART, RESTART_BACKOFF, decideRestart, formatRestartPolicy, parseRestartPolicy } from "./restart-policy";
export type { RestartDecision, RestartInput, RestartPolicy, RestartPolicyName } from "./restart-policy";

export { hostConfigSchema, parseHostConfig, stopOnDisconnectRefusal } from "./host-config";
export type { HostConfig, HostConfigInput, BindMount } from "./host-config";

export type { Decider, DomainEvent, DomainCommand } from "./decider";

export { DEFAULT_KILL_SIGNAL, parseSignal } from "./signal";

export type {
  ContainerCommand,
  ContainerSource,
  ContainerRunFacts,
  LockedInRuntime,
  CreateContainer,
  StartContainer,
  RecordScheduled,
  RecordIpcPrepared,
  RecordStarted,
  RecordStartFailed,
  RecordExited,
  StopContainer,
  KillContainer,
  PauseContainer,
  UnpauseContainer,
  RenameContainer,
  RemoveContainer,
  RecordRemoved,
  RecordDead,
  RecordLost,
  RecordRecovered,
} from "./container/commands";
export { CONTAINER_EVENT_SCHEMA_VERSIONS, CONTAINER_EVENT_TYPES, PLACEMENT_RELEASING_EVENT_TYPES, isContainerEventType } from "./container/events";
export type {
  ContainerEvent,
  ContainerEventType,
  ContainerCreated,
  ContainerStartRequested,
  ContainerScheduled,
  ContainerIpcPrepared,
  ContainerStarted,
  ContainerStartFailed,
  ContainerExited,
  ContainerRestartPlanned,
  ContainerLost,
  ContainerRecovered,
  ContainerStopRequested,
  ContainerKillRequested,
  ContainerPaused,
  ContainerUnpaused,
  ContainerRenamed,
  ContainerRemovalRequested,
  ContainerRemoved,
  ContainerDied,
} from "./container/events";
export { IMAGE_EVENT_SCHEMA_VERSIONS, imageStreamId } from "./image/image-events";
export type { ImageEvent, ImagePulled, ImagePullFailed, ImageRemoved } from "./image/image-events";
export { mergeImageConfig } from "./container/image-config";
export type { ImageRunConfig, MergedRunConfig, UserRunConfig } from "./container/image-config";
export { initialState as initialContainerState, isRunning, isStartInProgress, NO_RESTARTS } from "./container/state";
export type {
  RestartTally,
  ContainerState,
  ContainerStatus,
  ContainerDefinition,
  ContainerProcess,
  LastExit,
  StartFailure,
} from "./container/state";
export { decide as decideContainer, evolve as evolveContainer, containerDecider } from "./container/decider";
export {
  NOT_A_DIRECTORY_HINT,
  classifyStartFailure,
  startFailureExitCode,
  describeStartFailure,
} from "./container/start-failure";
export type { StartFailureKind, StartFailureCause } from "./container/start-failure";

export {
  DAEMON_CONFIG_STREAM_ID,
  containerStreamId,
  hostStreamId,
  ipcGroupStreamId,
  parseStreamId,
  aggregateOf,
  isUuid,
  toNewEvent,
} from "./event-envelope";
export type { EventMetadata, NewEvent, RecordedEvent, AggregateName } from "./event-envelope";
export { derivedEventId } from "./derived-id";

export type { HostCapabilities, RuntimeCapability, RroSupport } from "./host/host-capabilities";
export { HOST_EVENT_SCHEMA_VERSIONS, decideHostDrain, isDraining, isHostEventType } from "./host/host-events";
export type { HostActivated, HostDrainRequested, HostEvent, HostLost, HostRegistered } from "./host/host-events";

export { IPC_GROUP_EVENT_SCHEMA_VERSIONS, isIpcGroupEventType } from "./ipc-group/ipc-group-events";
export type {
  IpcGroupEvent,
  IpcGroupFormed,
  IpcGroupMemberJoined,
  IpcGroupMemberLeft,
  ShmMountCreated,
  ShmMountRemoved,
} from "./ipc-group/ipc-group-events";

export {
  CHECKPOINT_EVENT_SCHEMA_VERSIONS,
  checkpointExists,
  checkpointIncompatibility,
  checkpointPreflight,
  checkpointStreamId,
  experimentalRefusal,
  foldCheckpoint,
  isCheckpointEventType,
  noSuchCheckpoint,
  parseCheckpointName,
} from "./checkpoint/checkpoint";
export type {
  CheckpointEvent,
  CheckpointFacts,
  CheckpointHostFacts,
  CheckpointPlan,
  CheckpointState,
  PreflightContainer,
  PreflightInput,
  RestoreFrom,
} from "./checkpoint/checkpoint";

export { DOCKER_HUB_DOMAIN, familiarName, familiarString, isValidTag, parseImageReference, referenceString, validateDigest } from "./image/reference";
export type { ImageReference } from "./image/reference";
export { chooseManifest, compatiblePlatforms, formatPlatform, normalizePlatform, platformMatches } from "./image/platform";
export {
  MEDIA_TYPE_DOCKER_CONFIG,
  MEDIA_TYPE_DOCKER_LAYER_GZIP,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  MEDIA_TYPE_OCI_CONFIG,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_LAYER,
  MEDIA_TYPE_OCI_LAYER_GZIP,
  MEDIA_TYPE_OCI_MANIFEST,
  isIndexMediaType,
  isManifestMediaType,
} from "./image/manifest";
export type { Descriptor, ImageIndex, ImageManifest, Platform } from "./image/manifest";
