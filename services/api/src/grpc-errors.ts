/**
 * The one place ShoalErrors become gRPC statuses (STYLE.md habit 4). A ShoalError keeps
 * its message; anything else — InternalError included — goes out as INTERNAL
 * "internal error", with the detail only in the server's log.
 */
import { status } from "@grpc/grpc-js";
import { isShoalError } from "@shoal/domain";
import type { ErrorCode } from "@shoal/domain";

const GRPC_CODES: Record<Exclude<ErrorCode, "INTERNAL">, status> = {
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  ABORTED: status.ABORTED,
  UNAVAILABLE: status.UNAVAILABLE,
};

/** What a client sees for `err`; `internal` is true when the detail must be logged instead. */
export type GrpcErrorStatus = { code: status; details: string; internal: boolean };

export function toGrpcStatus(err: unknown): GrpcErrorStatus {
  if (isShoalError(err) && err.code !== "INTERNAL") {
    return { code: GRPC_CODES[err.code], details: err.message, internal: false };
  }
  return { code: status.INTERNAL, details: "internal error", internal: true };
}

/** The status name for metrics labels (`OK`, `NOT_FOUND`, …). */
export function statusName(code: status): string {
  return status[code] ?? String(code);
}
