/**
 * Reading ahead: what a start's IPC preparation reads (the container, the config, the group it
 * would own, the owner a member joins and that owner's group) is read when its
 * ContainerStartRequested is published, while the scheduler places it. The preparation on
 * ContainerScheduled then decides without a read on the start path.
 *
 * Only an optimisation, never the source of truth:
 * - inputs are used only when ContainerScheduled directly follows the request they were read
 *   for (stream version + 1), and the member's owner is the one the scheduler placed it with;
 * - a host's state root (an owner's shm path is planned under it) comes from the last full read
 *   for that host, forgotten when the host registers again and after HOST_KEPT_MS;
 * - the record appends against the versions read, so a container or group that moved since is
 *   ABORTED and re-read (prepare-ipc.ts);
 * - anything missing (the request not seen, expired, a host not read yet) means a full read.
 */
import type { ContainerScheduled, ContainerStartRequested } from "@shoal/domain";
import { createKeptForOnce } from "@shoal/bus";
import type { EventEnvelope } from "@shoal/bus";
import type { EventStore, RecordedEvent } from "@shoal/event-store";
import { containerDecider } from "@shoal/domain";
import { foldStream } from "@shoal/event-store";
import { readInputs, readOwner } from "./log-views";
import type { PreparationInputs } from "./log-views";

/** How long inputs read ahead wait for their ContainerScheduled. */
const AHEAD_KEPT_MS = 10_000;
/** How long a host's state root is taken from an earlier read. */
const HOST_KEPT_MS = 60_000;

export interface ReadAhead {
  /** Starts reading for a published ContainerStartRequested. Never rejects. */
  startRequested(event: EventEnvelope): void;
  /** The inputs for this ContainerScheduled when they were read ahead and still apply; else undefined. */
  take(event: EventEnvelope): Promise<PreparationInputs | undefined>;
  /** What a full read found for `host`. */
  rememberHost(host: string, stateRoot: string | undefined): void;
  /** `host` registered (again): its state root is read afresh. */
  forgetHost(host: string): void;
}

type Ahead = Omit<PreparationInputs, "hostStateRoot">;

export function createReadAhead(deps: { store: EventStore }): ReadAhead {
  const pending = createKeptForOnce<{ requestVersion: number; inputs: Promise<Ahead | undefined> }>(AHEAD_KEPT_MS);
  const hosts = new Map<string, { stateRoot: string | undefined; until: number }>();

  const readFor = async (containerId: string, requestVersion: number, ownerId: string | undefined): Promise<Ahead | undefined> => {
    const inputs = await readInputs(deps.store, containerId, undefined, undefined);
    if (inputs.current.version !== requestVersion || inputs.current.state.status !== "starting") return undefined;
    // A member: the owner its start request resolved, and its group.
    if (ownerId === undefined) return inputs;
    return { ...inputs, owner: await readOwner(deps.store, ownerId) };
  };

  return {
    startRequested(event) {
      const { containerId, ipcOwnerId } = event.data as Partial<ContainerStartRequested["data"]>;
      if (typeof containerId !== "string") return;
      const inputs = readFor(containerId, event.streamVersion, ipcOwnerId).catch(() => undefined);
      pending.put(containerId, { requestVersion: event.streamVersion, inputs });
    },

    async take(event) {
      const scheduled = event.data as ContainerScheduled["data"];
      const p = pending.take(scheduled.containerId);
      if (p === undefined || p.requestVersion + 1 !== event.streamVersion) return undefined;
      const host = hosts.get(scheduled.host);
      if (host === undefined || host.until < Date.now()) return undefined;
      const ahead = await p.inputs;
      if (ahead === undefined || ahead.current.version + 1 !== event.streamVersion) return undefined;
      if (ahead.owner?.containerId !== scheduled.ipcOwnerId) return undefined;
      const { recorded, state, version } = foldStream(containerDecider, [...ahead.current.recorded, event as unknown as RecordedEvent]);
      return { ...ahead, current: { recorded, state, version }, hostStateRoot: host.stateRoot };
    },

    rememberHost(host, stateRoot) {
      hosts.set(host, { stateRoot, until: Date.now() + HOST_KEPT_MS });
    },

    forgetHost(host) {
      hosts.delete(host);
    },
  };
}
