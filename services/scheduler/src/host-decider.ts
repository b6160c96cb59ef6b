/**
 * The host aggregate (stream `host-<name>`): a host's registrations and its loss.
 * Pure: time arrives on the command.
 *
 *   unknown ─register─► ready ─lost─► lost ─register─► ready …
 *
 * - RegisterHost records every new registration of an agent (a restarted agent registers
 *   again with a later `registeredAt`). A registration not newer than the one in force is
 *   a stale or repeated report: accepted, nothing recorded. The caller derives the event
 *   id from the report id, so a redelivered report appends nothing.
 * - MarkHostLost records that the registration in force stopped heartbeating. It names
 *   that registration (`registeredAt`): a host that re-registered meanwhile is not lost
 *   (accepted, nothing recorded), and neither is one already lost.
 */
import { HOST_EVENT_SCHEMA_VERSIONS, InvalidArgumentError, NotFoundError, hostStreamId } from "@shoal/domain";
import type { Decider, DomainCommand, HostCapabilities, HostEvent, HostLost, HostRegistered } from "@shoal/domain";

export type RegisterHost = DomainCommand<
  "RegisterHost",
  {
    host: string;
    capabilities: HostCapabilities;
    memoryBytes: number;
    /** CPUs the host offers, in nano-CPUs; absent when it reported none (CPUs then do not limit it). */
    nanoCpus?: number;
    registeredAt: string;
  }
>;

export type MarkHostLost = DomainCommand<
  "MarkHostLost",
  {
    host: string;
    /** The registration that went silent; must be the one in force for anything to be recorded. */
    registeredAt: string;
    /** The last sign of life the scheduler saw (a heartbeat or the registration). */
    lastSeenAt: string;
    timeoutMs: number;
    now: string;
  }
>;

export type HostCommand = RegisterHost | MarkHostLost;

export { HOST_EVENT_SCHEMA_VERSIONS };
export type { HostEvent, HostLost, HostRegistered };

type Registration = {
  host: string;
  capabilities: HostCapabilities;
  memoryBytes: number;
  nanoCpus?: number;
  registeredAt: string;
  /** `shoal host drain` in force: no new placement goes there. */
  draining?: boolean;
};

export type HostState =
  | { status: "unknown" }
  | ({ status: "ready" } & Registration)
  | ({ status: "lost"; lostAt: string; reason: string } & Registration);

export function initialHostState(): HostState {
  return { status: "unknown" };
}

/**
 * Refusals: InvalidArgumentError for a bad host name, time, memory size, CPU count or timeout;
 * NotFoundError `no such host: <name>` when marking a host that never registered.
 */
export function decideHost(command: HostCommand, state: HostState): HostEvent[] {
  hostStreamId(command.data.host); // validates the name
  switch (command.type) {
    case "RegisterHost": {
      const d = command.data;
      const at = requireTime("registeredAt", d.registeredAt);
      if (!Number.isSafeInteger(d.memoryBytes) || d.memoryBytes < 0) {
        throw new InvalidArgumentError(`invalid host memory: ${d.memoryBytes}`);
      }
      if (d.nanoCpus !== undefined && (!Number.isSafeInteger(d.nanoCpus) || d.nanoCpus < 0)) {
        throw new InvalidArgumentError(`invalid host CPUs: ${d.nanoCpus} nano-CPUs`);
      }
      if (state.status !== "unknown" && at <= Date.parse(state.registeredAt)) return [];
      return [{ type: "HostRegistered", data: registration(d) }];
    }
    case "MarkHostLost": {
      const d = command.data;
      requireTime("registeredAt", d.registeredAt);
      requireTime("lastSeenAt", d.lastSeenAt);
      requireTime("now", d.now);
      if (!Number.isSafeInteger(d.timeoutMs) || d.timeoutMs <= 0) {
        throw new InvalidArgumentError(`invalid heartbeat timeout: ${d.timeoutMs}`);
      }
      if (state.status === "unknown") throw new NotFoundError(`no such host: ${d.host}`);
      if (state.status === "lost") return [];
      if (Date.parse(state.registeredAt) !== Date.parse(d.registeredAt)) return [];
      return [
        {
          type: "HostLost",
          data: {
            host: d.host,
            registeredAt: state.registeredAt,
            lastSeenAt: d.lastSeenAt,
            reason: `no heartbeat for more than ${d.timeoutMs} ms (last seen ${d.lastSeenAt})`,
            lostAt: d.now,
          },
        },
      ];
    }
  }
}

export function evolveHost(state: HostState, event: HostEvent): HostState {
  switch (event.type) {
    case "HostRegistered": {
      // A drain outlives the host's new registrations (an agent restart does not end it).
      const draining = state.status !== "unknown" && state.draining === true;
      return { status: "ready", ...registration(event.data), ...(draining ? { draining } : {}) };
    }
    case "HostLost":
      if (state.status === "unknown") return state;
      return { ...state, status: "lost", lostAt: event.data.lostAt, reason: event.data.reason };
    case "HostDrainRequested":
      return state.status === "unknown" ? state : { ...state, draining: true };
    case "HostActivated": {
      if (state.status === "unknown") return state;
      const { draining: _, ...rest } = state;
      return rest;
    }
  }
}

export const hostDecider: Decider<HostState, HostCommand, HostEvent> = {
  decide: decideHost,
  evolve: evolveHost,
  initialState: initialHostState,
};

function registration(d: Registration): Registration {
  const { host, capabilities, memoryBytes, nanoCpus, registeredAt } = d;
  return { host, capabilities, memoryBytes, ...(nanoCpus === undefined ? {} : { nanoCpus }), registeredAt };
}

function requireTime(field: string, value: string): number {
  const t = typeof value === "string" ? Date.parse(value) : NaN;
  if (Number.isNaN(t)) throw new InvalidArgumentError(`invalid ${field}: ${String(value)}`);
  return t;
}
