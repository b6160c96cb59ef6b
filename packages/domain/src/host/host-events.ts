/**
 * Events of a host's stream (`host-<name>`), recorded by the scheduler and read by the
 * mount-manager and the api. Wire contracts: add fields and new schema versions only.
 */
import type { DomainEvent } from "../decider";
import { NotFoundError } from "../errors";
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

/**
 * `shoal host drain`: no new placement may go to the host; what runs there is moved
 * elsewhere. Survives the host's new registrations until HostActivated.
 */
export type HostDrainRequested = DomainEvent<"HostDrainRequested", { host: string; requestedAt: string }>;

/** `shoal host activate`: the drain is over; the host takes placements again. */
export type HostActivated = DomainEvent<"HostActivated", { host: string; activatedAt: string }>;

export type HostEvent = HostRegistered | HostLost | HostDrainRequested | HostActivated;

/** Schema version each host event type is written with. */
export const HOST_EVENT_SCHEMA_VERSIONS: Readonly<Record<HostEvent["type"], number>> = {
  HostRegistered: 1,
  HostLost: 1,
  HostDrainRequested: 1,
  HostActivated: 1,
};

/**
 * Drain and activate, decided from the host's stream: NotFoundError `no such host: <h>`
 * for a host that never registered; draining a draining host (or activating an active
 * one) decides nothing, as a repeated command should. Pure: the time is the caller's.
 */
export function decideHostDrain(
  command: { type: "DrainHost" | "ActivateHost"; host: string; now: string },
  history: readonly { type: string }[],
): HostEvent[] {
  if (!history.some((e) => e.type === "HostRegistered")) throw new NotFoundError(`no such host: ${command.host}`);
  const draining = isDraining(history);
  if (command.type === "DrainHost") {
    return draining ? [] : [{ type: "HostDrainRequested", data: { host: command.host, requestedAt: command.now } }];
  }
  return draining ? [{ type: "HostActivated", data: { host: command.host, activatedAt: command.now } }] : [];
}

/** True when the host's stream has a drain not yet ended by an activation. */
export function isDraining(history: readonly { type: string }[]): boolean {
  for (let i = history.length - 1; i >= 0; i--) {
    const t = history[i]!.type;
    if (t === "HostDrainRequested") return true;
    if (t === "HostActivated") return false;
  }
  return false;
}

export function isHostEventType(type: string): type is HostEvent["type"] {
  return Object.hasOwn(HOST_EVENT_SCHEMA_VERSIONS, type);
}
