/**
 * Shoal's one error taxonomy. Every failure a caller can act on is one of these
 * classes; each mirrors a gRPC status code and is converted to a gRPC status only
 * at the server edge (and back only in clients). Anything that is not a ShoalError
 * reaching the edge is reported as INTERNAL without its stack.
 */
export type ErrorCode =
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "INVALID_ARGUMENT"
  | "FAILED_PRECONDITION"
  | "ABORTED"
  | "UNAVAILABLE"
  | "INTERNAL";

export abstract class ShoalError extends Error {
  abstract readonly code: ErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The named thing does not exist. */
export class NotFoundError extends ShoalError {
  readonly code = "NOT_FOUND" as const;
}
/** A thing with this name or id already exists. */
export class AlreadyExistsError extends ShoalError {
  readonly code = "ALREADY_EXISTS" as const;
}
/** The request itself is malformed; retrying it unchanged never helps. */
export class InvalidArgumentError extends ShoalError {
  readonly code = "INVALID_ARGUMENT" as const;
}
/** The request is well formed but the system is not in a state that allows it. */
export class FailedPreconditionError extends ShoalError {
  readonly code = "FAILED_PRECONDITION" as const;
}
/** A concurrent change won (e.g. an expected stream version did not match); re-read and retry. */
export class AbortedError extends ShoalError {
  readonly code = "ABORTED" as const;
}
/** A dependency or capacity is not there right now; retrying later may help. */
export class UnavailableError extends ShoalError {
  readonly code = "UNAVAILABLE" as const;
}
/** A bug or an unexpected failure; the message is safe to show, the cause is for logs. */
export class InternalError extends ShoalError {
  readonly code = "INTERNAL" as const;
}

export function isShoalError(err: unknown): err is ShoalError {
  return err instanceof ShoalError;
}

const ERROR_CLASSES: Readonly<Record<ErrorCode, new (message: string, options?: { cause?: unknown }) => ShoalError>> = {
  NOT_FOUND: NotFoundError,
  ALREADY_EXISTS: AlreadyExistsError,
  INVALID_ARGUMENT: InvalidArgumentError,
  FAILED_PRECONDITION: FailedPreconditionError,
  ABORTED: AbortedError,
  UNAVAILABLE: UnavailableError,
  INTERNAL: InternalError,
};

/**
 * The ShoalError for `code`, for an edge that turns a code from the wire back into an error.
 * A code this taxonomy does not know (a newer peer, a garbled reply) gives InternalError.
 */
export function errorFromCode(code: ErrorCode | string | undefined, message: string, options?: { cause?: unknown }): ShoalError {
  const ErrorClass = code !== undefined && Object.hasOwn(ERROR_CLASSES, code) ? ERROR_CLASSES[code as ErrorCode] : InternalError;
  return new ErrorClass(message, options);
}
