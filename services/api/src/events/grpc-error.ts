import type { status } from "@grpc/grpc-js";
import type { ServerErrorResponse } from "@grpc/grpc-js";
import { toGrpcStatus } from "../grpc-errors";

/**
 * The gRPC error a handler passes to its callback (or emits on a stream) for `err`, by the
 * api's one conversion (`toGrpcStatus`): a ShoalError keeps its code and message; anything
 * else is INTERNAL "internal error" (log `err` before calling this).
 */
export function toServiceError(err: unknown): ServerErrorResponse {
  const s = toGrpcStatus(err);
  return serviceError(s.code, s.details);
}

/** A gRPC error with `code` and `details`, for codes the domain taxonomy has no class for (OUT_OF_RANGE). */
export function serviceError(code: status, message: string): ServerErrorResponse {
  return Object.assign(new Error(message), { code, details: message });
}
