import { status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import {
  AbortedError,
  AlreadyExistsError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from "@shoal/domain";
import type { ShoalError } from "@shoal/domain";

/**
 * Converts a failed containerd call into the domain taxonomy (the client edge of
 * STYLE.md habit 4). The message is `<Service>.<Method>: <containerd's message>`; the
 * gRPC error stays as `cause`.
 *
 * NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, INVALID_ARGUMENT, ABORTED and
 * UNAVAILABLE map to their namesakes; DEADLINE_EXCEEDED and CANCELLED (containerd did
 * not answer in time, or the client closed) to UnavailableError; everything else
 * (UNKNOWN, INTERNAL, UNIMPLEMENTED, …) to InternalError — except the runc shim's state-machine
 * refusals ("cannot delete a running process", "cannot resume a running process"), which
 * containerd 1.6 sends as UNKNOWN and are FailedPreconditionError here.
 */
export function fromGrpcError(rpc: string, err: unknown): ShoalError {
  if (!isServiceError(err)) {
    return new InternalError(`${rpc}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const message = `${rpc}: ${err.details || err.message}`;
  switch (err.code) {
    case status.NOT_FOUND:
      return new NotFoundError(message, { cause: err });
    case status.ALREADY_EXISTS:
      return new AlreadyExistsError(message, { cause: err });
    case status.FAILED_PRECONDITION:
      return new FailedPreconditionError(message, { cause: err });
    case status.INVALID_ARGUMENT:
      return new InvalidArgumentError(message, { cause: err });
    case status.ABORTED:
      return new AbortedError(message, { cause: err });
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
    case status.CANCELLED:
      return new UnavailableError(message, { cause: err });
    default:
      if (SHIM_STATE_REFUSAL.test(message)) return new FailedPreconditionError(message, { cause: err });
      return new InternalError(message, { cause: err });
  }
}

/** pkg/process in containerd's shim: `cannot <op> a <state> process`. */
const SHIM_STATE_REFUSAL = /cannot \w+ a (created|running|paused|pausing|stopped|deleted) process/;

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number" && "details" in err;
}
