/**
 * What a container asks of a host, from its ContainerCreated definition and the daemon
 * config in force (pure): its `--memory` and `--cpus` (absent: 0) and the shm it brings.
 * The shm size follows the domain's effectiveShmSize; a member's shm is its owner's
 * (already counted on the owner), so it brings none.
 */
import { effectiveShmSize, resolveIpcMode } from "@shoal/domain";
import type { ContainerDefinition, ResolvedIpcMode } from "@shoal/domain";
import type { DaemonConfig } from "@shoal/config";
import { reservationOf } from "./placement";
import type { PlacementRequest, Reserved } from "./placement";

/** A placement request and what it would reserve (`reservationOf`). */
export type ContainerAsk = PlacementRequest & Reserved;

/**
 * `pinnedHost` is the host the container was pinned to at create (`--host`), when the
 * creating event carries one.
 */
export function containerAsk(
  container: ContainerDefinition,
  config: Pick<DaemonConfig, "defaultIpcMode" | "defaultShmSizeBytes">,
  pinnedHost?: string,
): ContainerAsk {
  const ipcMode: ResolvedIpcMode = resolveIpcMode(container.hostConfig.ipcMode, config.defaultIpcMode);
  const shmBytes =
    ipcMode.kind === "private" || ipcMode.kind === "shareable"
      ? (effectiveShmSize({ mode: ipcMode, requested: container.hostConfig.shmSize, daemonDefault: config.defaultShmSizeBytes }) ?? 0)
      : 0;
  const { memory, nanoCpus } = container.hostConfig;
  const request: PlacementRequest = { containerId: container.id, ipcMode, shmBytes };
  if (container.source.kind === "image" && container.source.id !== undefined) request.imageId = container.source.id;
  if (memory !== undefined) request.memoryBytes = memory;
  if (nanoCpus !== undefined) request.nanoCpus = nanoCpus;
  if (pinnedHost !== undefined && pinnedHost !== "") request.pinnedHost = pinnedHost;
  return { ...request, ...reservationOf(request) };
}

/**
 * The pin recorded on ContainerCreated, if any. ContainerCreated has no pin field today;
 * a `host` string in its data (the CreateContainerRequest field's name) is honoured.
 */
export function pinnedHostOf(createdData: unknown): string | undefined {
  const host = (createdData as { host?: unknown } | null)?.host;
  return typeof host === "string" && host !== "" ? host : undefined;
}

/**
 * What a recorded ContainerScheduled holds: the reservation it carries, as the scheduler
 * decided it; for a placement recorded before a field existed, that part of `ask` (the
 * container's ask computed now).
 */
export function scheduledReservation(scheduledData: unknown, ask: Reserved): Reserved {
  const d = (scheduledData ?? {}) as { reservedBytes?: unknown; reservedNanoCpus?: unknown };
  const amount = (v: unknown, fallback: number) => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : fallback);
  return { reservedBytes: amount(d.reservedBytes, ask.reservedBytes), reservedNanoCpus: amount(d.reservedNanoCpus, ask.reservedNanoCpus) };
}
