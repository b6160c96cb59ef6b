/**
 * Reading ahead: the container stream and the daemon config a placement decides on are read
 * when the container's ContainerCreated is published, so a start that follows at once (`shoal
 * run`: create, then start) is placed without a read on the start path.
 *
 * Only an optimisation, never the source of truth:
 * - used only for the ContainerStartRequested that directly follows the ContainerCreated
 *   (stream version + 1), within AHEAD_KEPT_MS of it;
 * - dropped when a DaemonConfigChanged was seen since (the next read takes the new config);
 * - the placement appends against the version read, so a stream that moved is ABORTED and
 *   read again (placement-consumer.ts);
 * - anything missing (the create not seen, expired) means the placement reads as before.
 */
import { createKeptForOnce } from "@shoal/bus";
import type { EventEnvelope } from "@shoal/bus";
import type { DaemonConfig } from "@shoal/config";
import type { RecordedEvent } from "@shoal/event-store";
import type { DaemonConfigReader } from "./daemon-config";

/** How long a created container's read waits for its start request. */
const AHEAD_KEPT_MS = 5_000;

export interface PlacementInputs {
  /** The container's events, the start request last. */
  recorded: RecordedEvent[];
  config: DaemonConfig;
}

export interface PlacementReadAhead {
  /** Starts reading for a published ContainerCreated. Never rejects. */
  containerCreated(event: EventEnvelope): void;
  /** A DaemonConfigChanged was published: what was read before it is not used. */
  configChanged(): void;
  /** The inputs for this ContainerStartRequested when read ahead and still exact; else undefined. */
  take(event: EventEnvelope): Promise<PlacementInputs | undefined>;
}

export function createPlacementReadAhead(readConfig: DaemonConfigReader): PlacementReadAhead {
  const pending = createKeptForOnce<{ version: number; epoch: number; read: Promise<Awaited<ReturnType<DaemonConfigReader["readWith"]>> | undefined> }>(
    AHEAD_KEPT_MS,
  );
  let configEpoch = 0;
  return {
    containerCreated(event) {
      const read = readConfig.readWith([event.streamId]).catch(() => undefined);
      pending.put(event.streamId, { version: event.streamVersion, epoch: configEpoch, read });
    },
    configChanged() {
      configEpoch++;
    },
    async take(event) {
      const p = pending.take(event.streamId);
      if (p === undefined || p.version + 1 !== event.streamVersion) return undefined;
      const read = await p.read;
      if (read === undefined || p.epoch !== configEpoch) return undefined;
      const recorded = read.streams.get(event.streamId) ?? [];
      if ((recorded.at(-1)?.streamVersion ?? 0) !== p.version) return undefined;
      return { recorded: [...recorded, event as unknown as RecordedEvent], config: read.config };
    },
  };
}
