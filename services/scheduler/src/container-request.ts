/**
 * What a container asks of a host, from its ContainerCreated definition and the daemon
 * config in force (pure). The shm size follows the domain's effectiveShmSize; a member's
 * shm is its owner's (already counted on the owner), so it brings none.
 */
import { effectiveShmSize, resolveIpcMode } from "@shoal/domain";
import type { ContainerDefinition, ResolvedIpcMode } from "@shoal/domain";
import type { DaemonConfig } from "@shoal/config";
import { reservationBytes } from "./placement";
import type { PlacementRequest } from "./placement";

export type ContainerAsk = Omit<PlacementRequest, "ownerId"> & { reservedBytes: number };

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
  const ask: ContainerAsk = { containerId: container.id, ipcMode, shmBytes, reservedBytes: 0 };
  if (pinnedHost !== undefined && pinnedHost !== "") ask.pinnedHost = pinnedHost;
  ask.reservedBytes = reservationBytes(ask);
  return ask;
}

/**
 * The pin recorded on ContainerCreated, if any. ContainerCreated has no pin field today;
 * a `host` string in its data (the CreateContainerRequest field's name) is honoured.
 */
export function pinnedHostOf(createdData: unknown): string | undefined {
  const host = (createdData as { host?: unknown } | null)?.host;
  return typeof host === "string" && host !== "" ? host : undefined;
}
