/**
 * For the scheduler's tests and benchmarks: appending what the api would (a container's
 * creation and its start request) straight to the log. Not used in production.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { CONTAINER_EVENT_SCHEMA_VERSIONS, containerDecider, containerStreamId } from "@shoal/domain";
import type { ContainerCommand, HostConfigInput } from "@shoal/domain";
import { handleCommand } from "@shoal/event-store";
import type { EventStore } from "@shoal/event-store";

/** Runs one container command on its stream, with random event ids, as a user's request would. */
export async function containerCommand(store: EventStore, cmd: ContainerCommand): Promise<void> {
  await handleCommand(store, {
    streamId: containerStreamId(cmd.data.containerId),
    decider: containerDecider,
    command: cmd,
    eventId: () => randomUUID(),
    schemaVersion: (t) => CONTAINER_EVENT_SCHEMA_VERSIONS[t],
  });
}

/**
 * Creates a container (rootfs `/srv/rootfs`, `sh`) and requests its start; returns its id.
 * For a member, `ipcOwnerId` is the owner the api resolved and found joinable.
 */
export async function requestStart(
  store: EventStore,
  name: string,
  hostConfig: HostConfigInput = {},
  containerId: string = randomBytes(32).toString("hex"),
  ipcOwnerId?: string,
): Promise<string> {
  const now = new Date().toISOString();
  await containerCommand(store, {
    type: "CreateContainer",
    data: { containerId, name, hostConfig, source: { kind: "rootfs", path: "/srv/rootfs" }, args: ["sh"], env: [], createdAt: now },
  });
  const ipcOwner = ipcOwnerId === undefined ? {} : { ipcOwner: { containerId: ipcOwnerId, running: true, shareable: true } };
  await containerCommand(store, { type: "StartContainer", data: { containerId, now, experimental: false, ...ipcOwner } });
  return containerId;
}
