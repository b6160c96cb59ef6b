import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import {
  AbortedError,
  AlreadyExistsError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from "@shoal/domain";
import { statusName, toGrpcStatus } from "./grpc-errors";

describe("toGrpcStatus", () => {
  it.each([
    [new NotFoundError("No such container: x"), status.NOT_FOUND],
    [new AlreadyExistsError("taken"), status.ALREADY_EXISTS],
    [new InvalidArgumentError("bad"), status.INVALID_ARGUMENT],
    [new FailedPreconditionError("paused"), status.FAILED_PRECONDITION],
    [new AbortedError("raced"), status.ABORTED],
    [new UnavailableError("no host"), status.UNAVAILABLE],
  ])("keeps the code and the user's message of %s", (err, code) => {
    expect(toGrpcStatus(err)).toEqual({ code, details: err.message, internal: false });
  });

  it("never shows an internal error's detail or a stack to the caller", () => {
    const leaky = new Error("password=hunter2 at /srv/x.ts:10");
    expect(toGrpcStatus(leaky)).toEqual({ code: status.INTERNAL, details: "internal error", internal: true });
    expect(toGrpcStatus(new InternalError("stream corrupt"))).toEqual({
      code: status.INTERNAL,
      details: "internal error",
      internal: true,
    });
    expect(toGrpcStatus("a string")).toMatchObject({ code: status.INTERNAL, details: "internal error" });
  });

  it("names statuses for metric labels", () => {
    expect(statusName(status.OK)).toBe("OK");
    expect(statusName(status.FAILED_PRECONDITION)).toBe("FAILED_PRECONDITION");
  });
});
