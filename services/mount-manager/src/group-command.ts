import { derivedEventId, ipcGroupStreamId } from "@shoal/domain";
import { handleCommand } from "@shoal/event-store";
import { IPC_GROUP_EVENT_SCHEMA_VERSIONS, ipcGroupDecider } from "./ipc-group-decider";
import type { IpcGroupCommand } from "./ipc-group-decider";
import type { FlowDeps } from "./flow-deps";

/** Appends a group command's events with ids derived from `causeId`; a redelivered cause appends nothing. */
export async function groupCommand(deps: FlowDeps, ownerId: string, causeId: string, command: IpcGroupCommand): Promise<void> {
  await handleCommand(deps.store, {
    streamId: ipcGroupStreamId(ownerId),
    decider: ipcGroupDecider,
    command,
    eventId: (e) => derivedEventId(`${e.type}:${ownerId}:${causeId}`),
    schemaVersion: (type) => IPC_GROUP_EVENT_SCHEMA_VERSIONS[type],
    metadata: { causationId: causeId, actor: "mount-manager" },
  });
}
