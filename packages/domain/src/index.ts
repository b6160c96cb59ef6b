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
export type { IpcMode, ResolvedIpcMode, DefaultIpcMode, IpcPlan } from "./ipc-mode";
