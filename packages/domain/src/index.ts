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

export { DEFAULT_SHM_SIZE_BYTES, parseShmSize, validateShmSizeForMode, effectiveShmSize } from "./shm-size";
export type { EffectiveShmSizeInput } from "./shm-size";

export { isValidContainerName, normalizeContainerName, normalizeContainerRef } from "./container-name";
export { SHORT_ID_LENGTH, isContainerId, looksLikeIdPrefix, parseContainerId, shortContainerId } from "./container-id";

export { parseSecurityOpt } from "./security-opt";
export type { SecurityOpt, SecurityOptKey } from "./security-opt";

export { hostConfigSchema, parseHostConfig } from "./host-config";
export type { HostConfig, HostConfigInput, BindMount } from "./host-config";
