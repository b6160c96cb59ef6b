/**
 * Events of a host's stream (`host-<name>`), recorded by the scheduler and read by the
 * mount-manager and the api. Wire contracts: add fields and new schema versions only.
 */
import type { DomainEvent } from "../decider";
import type { HostCapabilities } from "./host-capabilities";

/**
 * An agent registered (again). `capabilities` is what it reported; a registration recorded
 * before the type was fixed may lack fields, so readers take what they need defensively.
 * `memoryBytes` and `nanoCpus` are what the host offers to containers. Added field:
 * `nanoCpus` (a registration recorded before it has none: no CPU limit is then placed
 * against that host's CPUs).
 */
export type HostRegistered = DomainEvent<
  "HostRegistered",
  { host: string; capabilities: HostCapabilities; memoryBytes: number; nanoCpus?: number; registeredAt: string }
>;

/** The registration in force (`registeredAt`) went silent: its containers are lost. */
export type HostLost = DomainEvent<
  "HostLost",
  { host: string; registeredAt: string; lastSeenAt: string; reason: string; lostAt: string }
>;

export type HostEvent = HostRegistered | HostLost;

/** Schema version each host event type is written with. */
export const HOST_EVENT_SCHEMA_VERSIONS: Readonly<Record<HostEvent["type"], number>> = {
  HostRegistered: 1,
  HostLost: 1,
};

export function isHostEventType(type: string): type is HostEvent["type"] {
  return Object.hasOwn(HOST_EVENT_SCHEMA_VERSIONS, type);
}
