/**
 * What the event store persists and hands back, and how streams and aggregates are named.
 * The bus derives subjects from aggregateOf: `shoal.evt.<aggregate>.<type>`.
 */
import { InvalidArgumentError } from "./errors";
import { parseContainerId } from "./container-id";
import type { DomainEvent } from "./decider";

/** Who and what caused an event; all optional, all carried through to subscribers. */
export type EventMetadata = {
  /** Shared by every event one external request led to. */
  correlationId?: string;
  /** The id of the event (or request) that directly caused this one. */
  causationId?: string;
  /** Who asked: a user, a service name, or a host (`host:<name>`). */
  actor?: string;
};

/** An event to append. `eventId` is a UUID chosen by the caller: appends and publishes are idempotent on it. */
export type NewEvent<Type extends string = string, Data = unknown> = {
  eventId: string;
  type: Type;
  schemaVersion: number;
  data: Data;
  metadata: EventMetadata;
};

/**
 * An event as stored. `streamVersion` starts at 1 within its stream. `globalPosition`
 * orders all events; it is a bigint (or its decimal string on the wire/JSON), and
 * readers must not assume consecutive positions are committed in order.
 */
export type RecordedEvent<Type extends string = string, Data = unknown> = {
  eventId: string;
  streamId: string;
  streamVersion: number;
  globalPosition: bigint | string;
  type: Type;
  schemaVersion: number;
  data: Data;
  metadata: EventMetadata;
  /** ISO-8601 time of the commit. */
  recordedAt: string;
};

/** Aggregates, each with its own streams and its own event type prefix. */
export type AggregateName = "container" | "config" | "host" | "ipc-group" | "checkpoint" | "image";

/** The one stream of the daemon config aggregate. */
export const DAEMON_CONFIG_STREAM_ID = "config-daemon";

const HOST_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EVENT_TYPE = /^[A-Z][A-Za-z0-9]*$/;

/** `container-<id>`; InvalidArgumentError when `id` is not a full container id. */
export function containerStreamId(containerId: string): string {
  return `container-${parseContainerId(containerId)}`;
}

/** `host-<name>`; InvalidArgumentError `invalid host name: <name>` unless it matches `^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`. */
export function hostStreamId(hostName: string): string {
  if (!HOST_NAME.test(hostName)) throw new InvalidArgumentError(`invalid host name: ${hostName}`);
  return `host-${hostName}`;
}

/** `ipc-group-<owner id>`: an IPC group is named after its owner container. */
export function ipcGroupStreamId(ownerContainerId: string): string {
  return `ipc-group-${parseContainerId(ownerContainerId)}`;
}

/**
 * Splits a stream id into its aggregate and key (`container-<id>` → container, id).
 * Throws InvalidArgumentError `invalid stream id: <s>` for anything else.
 */
export function parseStreamId(streamId: string): { aggregate: AggregateName; key: string } {
  const prefixes: [string, AggregateName][] = [
    ["ipc-group-", "ipc-group"],
    ["container-", "container"],
    ["config-", "config"],
    ["host-", "host"],
    ["checkpoint-", "checkpoint"],
    ["image-", "image"],
  ];
  for (const [prefix, aggregate] of prefixes) {
    if (streamId.startsWith(prefix) && streamId.length > prefix.length) {
      return { aggregate, key: streamId.slice(prefix.length) };
    }
  }
  throw new InvalidArgumentError(`invalid stream id: ${streamId}`);
}

// Longest prefix first: `IpcGroup…` before anything shorter; a container's checkpoint
// events that start with `Container` stay on the container.
const TYPE_PREFIXES: [string, AggregateName][] = [
  ["DaemonConfig", "config"],
  ["Checkpoint", "checkpoint"],
  ["Image", "image"],
  ["Container", "container"],
  ["IpcGroup", "ipc-group"],
  ["ShmMount", "ipc-group"],
  ["Config", "config"],
  ["Host", "host"],
];

/**
 * The aggregate an event type belongs to, by its prefix: `Container…` → container,
 * `Config…`/`DaemonConfig…` → config, `Host…` → host, `IpcGroup…`/`ShmMount…` →
 * ipc-group, `Checkpoint…` → checkpoint, `Image…` → image. Event types are PascalCase letters and digits
 * (safe as a NATS subject token). Throws InvalidArgumentError `unknown event type: <type>`
 * for anything else.
 */
export function aggregateOf(type: string): AggregateName {
  if (EVENT_TYPE.test(type)) {
    for (const [prefix, aggregate] of TYPE_PREFIXES) {
      if (type.startsWith(prefix) && type.length > prefix.length) return aggregate;
    }
  }
  throw new InvalidArgumentError(`unknown event type: ${type}`);
}

/** True for a UUID in its canonical 8-4-4-4-12 hex form. */
export function isUuid(s: string): boolean {
  return UUID.test(s);
}

/**
 * Wraps a decided event for appending. `eventId` must be a UUID (InvalidArgumentError
 * `invalid event id: <id>` otherwise).
 */
export function toNewEvent<T extends string, D>(
  event: DomainEvent<T, D>,
  options: { eventId: string; schemaVersion: number; metadata?: EventMetadata },
): NewEvent<T, D> {
  if (!isUuid(options.eventId)) throw new InvalidArgumentError(`invalid event id: ${options.eventId}`);
  if (!Number.isInteger(options.schemaVersion) || options.schemaVersion < 1) {
    throw new InvalidArgumentError(`invalid schema version: ${options.schemaVersion}`);
  }
  return {
    eventId: options.eventId,
    type: event.type,
    schemaVersion: options.schemaVersion,
    data: event.data,
    metadata: { ...options.metadata },
  };
}
