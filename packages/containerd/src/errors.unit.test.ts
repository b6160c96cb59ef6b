import { Metadata, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { fromGrpcError } from "./errors";

function grpcError(code: status, details: string): ServiceError {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata: new Metadata() });
}

describe("fromGrpcError", () => {
  it.each([
    [status.NOT_FOUND, "NotFoundError"],
    [status.ALREADY_EXISTS, "AlreadyExistsError"],
    [status.FAILED_PRECONDITION, "FailedPreconditionError"],
    [status.INVALID_ARGUMENT, "InvalidArgumentError"],
    [status.ABORTED, "AbortedError"],
    [status.UNAVAILABLE, "UnavailableError"],
    [status.DEADLINE_EXCEEDED, "UnavailableError"],
    [status.UNKNOWN, "InternalError"],
    [status.INTERNAL, "InternalError"],
    [status.UNIMPLEMENTED, "InternalError"],
  ])("maps gRPC code %i to %s, keeping containerd's message and the gRPC error as cause", (code, name) => {
    const cause = grpcError(code, 'container "abc": not found');
    const err = fromGrpcError("Containers.Get", cause);
    expect(err.name).toBe(name);
    expect(err.message).toBe('Containers.Get: container "abc": not found');
    expect(err.cause).toBe(cause);
  });

  it("treats the runc shim's state refusals, sent as UNKNOWN, as failed preconditions", () => {
    const err = fromGrpcError("Tasks.Delete", grpcError(status.UNKNOWN, "failed to delete task: cannot delete a running process: unknown"));
    expect(err.code).toBe("FAILED_PRECONDITION");
  });

  it("wraps a non-gRPC failure as InternalError", () => {
    const err = fromGrpcError("Tasks.Create", new TypeError("boom"));
    expect(err.code).toBe("INTERNAL");
    expect(err.message).toBe("Tasks.Create: boom");
  });
});
