/**
 * Exit codes of a failed start, as Docker reports them (`docker run` exits with these).
 */

/** Docker's hint appended to a start failure caused by ENOTDIR. */
export const NOT_A_DIRECTORY_HINT =
  "Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type";

export type StartFailureKind = "not-found" | "permission-denied" | "not-a-directory" | "other";

/**
 * What the agent knows about a failed start: a classification, an errno code
 * (`ENOENT`, `EACCES`, `ENOTDIR`, …), or the runtime's error text (matched as Docker
 * does: "executable file not found", "no such file or directory", "permission denied",
 * "not a directory").
 */
export type StartFailureCause = { kind: StartFailureKind } | { errno: string } | { message: string };

/** The kind of a cause. ENOTDIR is checked before "not found" since both may appear in one text. */
export function classifyStartFailure(cause: StartFailureCause): StartFailureKind {
  if ("kind" in cause) return cause.kind;
  if ("errno" in cause) {
    switch (cause.errno) {
      case "ENOENT":
        return "not-found";
      case "EACCES":
        return "permission-denied";
      case "ENOTDIR":
        return "not-a-directory";
      default:
        return "other";
    }
  }
  const text = cause.message.toLowerCase();
  if (text.includes("not a directory")) return "not-a-directory";
  if (text.includes("executable file not found") || text.includes("no such file or directory")) return "not-found";
  if (text.includes("permission denied")) return "permission-denied";
  return "other";
}

/** 127 for a command or file not found (and ENOTDIR), 126 for permission denied, 128 otherwise. */
export function startFailureExitCode(cause: StartFailureCause): number {
  switch (classifyStartFailure(cause)) {
    case "not-found":
    case "not-a-directory":
      return 127;
    case "permission-denied":
      return 126;
    case "other":
      return 128;
  }
}

/**
 * The reason and exit code to record with RecordStartFailed: `message` as given, with
 * Docker's hint appended (`<message>: <hint>`) when the cause is ENOTDIR.
 */
export function describeStartFailure(cause: StartFailureCause, message: string): { reason: string; exitCode: number } {
  const kind = classifyStartFailure(cause);
  const reason = kind === "not-a-directory" ? `${message}: ${NOT_A_DIRECTORY_HINT}` : message;
  return { reason, exitCode: startFailureExitCode(cause) };
}
