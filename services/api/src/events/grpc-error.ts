import { status } from "@grpc/grpc-js";
import type { ServerErrorResponse } from "@grpc/grpc-js";
import { isShoalError } from "@shoal/domain";
import type { ErrorCode } from "@shoal/domain";

const CODES: Readonly<Record<ErrorCode, status>> = {
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  ABORTED: status.ABORTED,
  UNAVAILABLE: status.UNAVAILABLE,
  INTERNAL: status.INTERNAL,
};

/**
 * The gRPC error a handler passes to its callback (or emits on a stream) for `err`:
 * a ShoalError keeps its code and message; anything else is INTERNAL "internal error"
 * so no stack or driver detail reaches a user (log `err` before calling this).
 */
export function toServiceError(err: unknown): ServerErrorResponse {
  if (isShoalError(err)) return serviceError(CODES[err.code], err.message);
  return serviceError(status.INTERNAL, "internal error");
}

/** A gRPC error with `code` and `details`, for codes the domain taxonomy has no class for (OUT_OF_RANGE). */
export function serviceError(code: status, message: string): ServerErrorResponse {
  return Object.assign(new Error(message), { code, details: message });
}
