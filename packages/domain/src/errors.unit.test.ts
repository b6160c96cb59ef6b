import { describe, expect, it } from "vitest";
import {
  AbortedError,
  AlreadyExistsError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
  errorFromCode,
} from "./errors";

describe("errorFromCode", () => {
  it.each([
    ["NOT_FOUND", NotFoundError],
    ["ALREADY_EXISTS", AlreadyExistsError],
    ["INVALID_ARGUMENT", InvalidArgumentError],
    ["FAILED_PRECONDITION", FailedPreconditionError],
    ["ABORTED", AbortedError],
    ["UNAVAILABLE", UnavailableError],
    ["INTERNAL", InternalError],
  ] as const)("turns %s back into its class, keeping message and cause", (code, ErrorClass) => {
    const cause = new Error("wire");
    const err = errorFromCode(code, "what happened", { cause });
    expect(err).toBeInstanceOf(ErrorClass);
    expect(err.code).toBe(code);
    expect(err.message).toBe("what happened");
    expect(err.cause).toBe(cause);
  });

  it.each([["OUT_OF_RANGE"], ["toString"], [undefined]])("gives InternalError for an unknown code (%s)", (code) => {
    expect(errorFromCode(code, "x")).toBeInstanceOf(InternalError);
  });
});
