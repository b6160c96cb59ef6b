/**
 * Restart policies, as Docker's `--restart`: what is accepted, and whether (and after how
 * long) an exited container starts again. Pure: the caller brings the clock.
 */
import { InvalidArgumentError } from "./errors";

export type RestartPolicyName = "no" | "always" | "unless-stopped" | "on-failure";

/** `maximumRetryCount` is 0 except with `on-failure`, where 0 means "no limit". */
export type RestartPolicy = { name: RestartPolicyName; maximumRetryCount: number };

export const NO_RESTART: RestartPolicy = { name: "no", maximumRetryCount: 0 };

const NAMES: readonly RestartPolicyName[] = ["no", "always", "unless-stopped", "on-failure"];

/**
 * `--restart` text: `no`, `always`, `unless-stopped`, `on-failure[:N]`; empty is `no`.
 * InvalidArgumentError with dockerd 20.10's messages: "invalid restart policy format",
 * "invalid restart policy format: maximum retry count must be an integer",
 * "maximum retry count cannot be negative",
 * "maximum retry count cannot be used with restart policy 'always'",
 * "invalid restart policy 'x'".
 */
export function parseRestartPolicy(text: string | undefined): RestartPolicy {
  if (text === undefined || text === "") return NO_RESTART;
  const parts = text.split(":");
  if (parts.length > 2) throw new InvalidArgumentError("invalid restart policy format");
  let maximumRetryCount = 0;
  if (parts.length === 2) {
    const notInteger = () => new InvalidArgumentError("invalid restart policy format: maximum retry count must be an integer");
    if (!/^[+-]?\d+$/.test(parts[1]!)) throw notInteger();
    maximumRetryCount = Number(parts[1]);
    if (!Number.isSafeInteger(maximumRetryCount)) throw notInteger();
  }
  const name = parts[0]!;
  if (!(NAMES as readonly string[]).includes(name)) throw new InvalidArgumentError(`invalid restart policy '${name}'`);
  if (name === "on-failure") {
    if (maximumRetryCount < 0) throw new InvalidArgumentError("maximum retry count cannot be negative");
  } else if (maximumRetryCount !== 0) {
    throw new InvalidArgumentError(`maximum retry count cannot be used with restart policy '${name}'`);
  }
  return { name: name as RestartPolicyName, maximumRetryCount: name === "on-failure" ? maximumRetryCount : 0 };
}

/** `on-failure:3`, `always`: the policy as `--restart` takes it. */
export function formatRestartPolicy(p: RestartPolicy): string {
  return p.name === "on-failure" && p.maximumRetryCount > 0 ? `on-failure:${p.maximumRetryCount}` : p.name;
}

/** Docker's backoff: the first restart waits 100 ms, each next one twice as long, at most a minute. */
export const RESTART_BACKOFF = { initialMs: 100, maxMs: 60_000, resetAfterRunningMs: 10_000 } as const;

export type RestartInput = {
  policy: RestartPolicy;
  exitCode: number;
  /** Restarts made since the last user start. */
  restartCount: number;
  /** Stopped or killed by a user (`stop`, `kill`) since the last start: no policy restarts it. */
  manuallyStopped: boolean;
  /** How long the exited process ran. */
  ranForMs: number;
  /** The wait before the previous automatic restart; 0 when there was none. */
  previousDelayMs: number;
};

export type RestartDecision = { restart: false } | { restart: true; delayMs: number };

/**
 * Whether an exited container starts again, as Docker's restart manager decides:
 * - a manual stop or kill ends every policy (until the next user start);
 * - `always` and `unless-stopped` restart whatever the exit code;
 * - `on-failure` restarts a non-zero exit while fewer than N restarts were made (N = 0: no limit);
 * - the wait doubles from 100 ms up to a minute, and starts at 100 ms again after a run
 *   of 10 s or more.
 */
export function decideRestart(input: RestartInput): RestartDecision {
  const { policy } = input;
  if (input.manuallyStopped) return { restart: false };
  let restart: boolean;
  switch (policy.name) {
    case "no":
      restart = false;
      break;
    case "always":
    case "unless-stopped":
      restart = true;
      break;
    case "on-failure":
      restart = input.exitCode !== 0 && (policy.maximumRetryCount === 0 || input.restartCount < policy.maximumRetryCount);
      break;
  }
  if (!restart) return { restart: false };
  const previous = input.ranForMs >= RESTART_BACKOFF.resetAfterRunningMs ? 0 : input.previousDelayMs;
  const delayMs = Math.max(RESTART_BACKOFF.initialMs, Math.min(previous * 2, RESTART_BACKOFF.maxMs));
  return { restart: true, delayMs };
}
