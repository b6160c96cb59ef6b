/**
 * A failed call to the api: the gRPC status code by name (`NOT_FOUND`, `FAILED_PRECONDITION`,
 * `OUT_OF_RANGE`, …) and the daemon's message. The CLI does not turn these into
 * `@shoal/domain` errors: it only prints them, and loading the domain package would load
 * zod at every start. `unreachable` is set when no api answered at the address at all.
 */
export class DaemonError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly unreachable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DaemonError";
  }
}

/** gRPC status codes by number (grpc/doc/statuscodes.md). */
export const GRPC_STATUS_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

export function grpcStatusName(code: number): string {
  return GRPC_STATUS_NAMES[code] ?? "UNKNOWN";
}
