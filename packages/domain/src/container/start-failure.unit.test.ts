import { describe, expect, it } from "vitest";
import { NOT_A_DIRECTORY_HINT, classifyStartFailure, describeStartFailure, startFailureExitCode } from "./start-failure";
import type { StartFailureCause } from "./start-failure";

describe("startFailureExitCode", () => {
  it.each<[StartFailureCause, number]>([
    [{ kind: "not-found" }, 127],
    [{ kind: "not-a-directory" }, 127],
    [{ kind: "permission-denied" }, 126],
    [{ kind: "other" }, 128],
    [{ errno: "ENOENT" }, 127],
    [{ errno: "ENOTDIR" }, 127],
    [{ errno: "EACCES" }, 126],
    [{ errno: "EPERM" }, 128],
    [{ errno: "EIO" }, 128],
    [{ message: 'exec: "nope": executable file not found in $PATH' }, 127],
    [{ message: "exec /bin/app: no such file or directory" }, 127],
    [{ message: "exec /bin/app: permission denied" }, 126],
    [{ message: "error mounting \"/a\" to rootfs at \"/etc/hosts\": not a directory" }, 127],
    [{ message: "OCI runtime create failed: cgroup error" }, 128],
  ])("%j → %d", (cause, code) => {
    expect(startFailureExitCode(cause)).toBe(code);
  });

  it("a text naming ENOTDIR and 'no such file' is classified as ENOTDIR (the hint matters more)", () => {
    expect(classifyStartFailure({ message: "no such file or directory ... not a directory" })).toBe("not-a-directory");
  });
});

describe("describeStartFailure", () => {
  it("appends Docker's hint for ENOTDIR", () => {
    expect(describeStartFailure({ errno: "ENOTDIR" }, "mount /a onto /etc/hosts: not a directory")).toEqual({
      reason:
        "mount /a onto /etc/hosts: not a directory: Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type",
      exitCode: 127,
    });
    expect(NOT_A_DIRECTORY_HINT).toMatch(/^Are you trying to mount a directory onto a file \(or vice-versa\)\?/);
  });

  it("leaves other reasons as they are", () => {
    expect(describeStartFailure({ errno: "EACCES" }, "exec /app: permission denied")).toEqual({
      reason: "exec /app: permission denied",
      exitCode: 126,
    });
  });
});
