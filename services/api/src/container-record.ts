/**
 * One container's stream, read and folded: the decider's state plus what the state
 * forgets but the api needs (the last host, the last outcome of a start, the last exit).
 */
import { containerDecider, containerStreamId } from "@shoal/domain";
import type { ContainerEvent, ContainerState } from "@shoal/domain";
import type { EventStore, RecordedEvent } from "@shoal/event-store";

export type StartOutcome =
  | { kind: "started"; version: number; pid: number; host: string | undefined }
  | { kind: "failed"; version: number; exitCode: number; reason: string };

export type ContainerRecord = {
  state: ContainerState;
  /** The stream's version (0: no stream). */
  version: number;
  /** The host of the latest ContainerScheduled, kept after exit (logs, removal). */
  lastHost: string | undefined;
  /** Stream version of the latest ContainerScheduled: the placement's epoch (fencing). */
  lastScheduledVersion: number | undefined;
  /** The version of the latest ContainerStartRequested. */
  lastStartRequestedVersion: number;
  /** The id of the latest ContainerIpcPrepared. */
  lastIpcPreparedEventId: string | undefined;
  /** The latest ContainerStarted or ContainerStartFailed. */
  lastOutcome: StartOutcome | undefined;
  /** The latest exit or start failure: what Wait answers. */
  lastExit: { exitCode: number; error: string; version: number } | undefined;
  /**
   * Fields the api adds to ContainerCreated beyond the domain's (wire contracts grow by
   * adding): the working directory of the command, and the host the container is pinned to.
   */
  cwd: string | undefined;
  pinnedHost: string | undefined;
  /** ContainerCreated's `run`: the user (`-u` or the image's) and stop signal. */
  run: { user?: string; stopSignal?: string } | undefined;
  /** ContainerDied was recorded after the latest start (e.g. its host was lost). */
  died: boolean;
};

/** Folds recorded events of one container stream, from the start or onto `from` (which it does not change). */
export function foldContainer(
  events: readonly Pick<RecordedEvent, "type" | "data" | "streamVersion" | "eventId">[],
  from?: ContainerRecord,
): ContainerRecord {
  const r: ContainerRecord = from
    ? { ...from }
    : {
        state: containerDecider.initialState(),
        version: 0,
        lastHost: undefined,
        lastScheduledVersion: undefined,
        lastStartRequestedVersion: 0,
        lastIpcPreparedEventId: undefined,
        lastOutcome: undefined,
        lastExit: undefined,
        cwd: undefined,
        pinnedHost: undefined,
        run: undefined,
        died: false,
      };
  for (const e of events) {
    const event = { type: e.type, data: e.data } as ContainerEvent;
    r.state = containerDecider.evolve(r.state, event);
    r.version = e.streamVersion;
    switch (event.type) {
      case "ContainerCreated": {
        const extra = e.data as { cwd?: unknown; host?: unknown; run?: { user?: string; stopSignal?: string } };
        r.run =
          extra.run === undefined
            ? undefined
            : { ...(extra.run.user ? { user: extra.run.user } : {}), ...(extra.run.stopSignal ? { stopSignal: extra.run.stopSignal } : {}) };
        r.cwd = typeof extra.cwd === "string" && extra.cwd !== "" ? extra.cwd : undefined;
        r.pinnedHost = typeof extra.host === "string" && extra.host !== "" ? extra.host : undefined;
        break;
      }
      case "ContainerScheduled":
        r.lastHost = event.data.host;
        r.lastScheduledVersion = e.streamVersion;
        break;
      case "ContainerStartRequested":
        r.lastStartRequestedVersion = e.streamVersion;
        break;
      case "ContainerIpcPrepared":
        r.lastIpcPreparedEventId = e.eventId;
        break;
      case "ContainerStarted":
        r.died = false;
        r.lastOutcome = { kind: "started", version: e.streamVersion, pid: event.data.pid, host: r.lastHost };
        break;
      case "ContainerStartFailed":
        r.lastOutcome = { kind: "failed", version: e.streamVersion, exitCode: event.data.exitCode, reason: event.data.reason };
        r.lastExit = { exitCode: event.data.exitCode, error: event.data.reason, version: e.streamVersion };
        break;
      case "ContainerExited":
        r.lastExit = { exitCode: event.data.exitCode, error: "", version: e.streamVersion };
        break;
      case "ContainerDied":
        r.died = true;
        r.lastExit = { exitCode: 255, error: event.data.reason, version: e.streamVersion };
        break;
      default:
        break;
    }
  }
  return r;
}

/** Reads and folds `container-<id>`; a missing stream folds to status `absent`. */
export async function readContainer(store: EventStore, containerId: string): Promise<ContainerRecord> {
  return foldContainer(await store.readStream(containerStreamId(containerId)));
}

