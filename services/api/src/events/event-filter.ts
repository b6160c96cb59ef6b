/**
 * Subscription filters, as `shoal events --filter k=v` passes them: ANDed across keys,
 * ORed within one key. Pure and stateful per subscription: the matcher learns from the
 * events it sees (a ContainerCreated names a container, a ContainerScheduled puts it on
 * a host), so it must be shown EVERY event of the log in order, including the ones it
 * rejects.
 */
import { InvalidArgumentError, isContainerId, looksLikeIdPrefix, normalizeContainerRef, parseStreamId } from "@shoal/domain";
import type { AggregateName } from "@shoal/domain";

export const EVENT_FILTER_KEYS = ["type", "container", "aggregate", "host"] as const;
export type EventFilterKey = (typeof EVENT_FILTER_KEYS)[number];

const AGGREGATES: readonly AggregateName[] = ["container", "config", "host", "ipc-group", "checkpoint", "image"];

export interface EventFilterInput {
  key: string;
  values: readonly string[];
}

/** What the filters ask for; `undefined` for a key means "no filter on it". */
export interface EventFilterSpec {
  types?: ReadonlySet<string>;
  aggregates?: ReadonlySet<AggregateName>;
  /**
   * `container=` values: full ids and `container-<id>` stream ids become stream ids;
   * anything else is a name and, when it looks like hex, also an id prefix.
   */
  containers?: { streamIds: ReadonlySet<string>; names: ReadonlySet<string>; idPrefixes: ReadonlySet<string> };
  hosts?: ReadonlySet<string>;
}

/**
 * Validates and groups filters. Throws InvalidArgumentError for an unknown key, a key
 * with no values, an unknown aggregate, or a container value that is neither a name nor an id.
 */
export function parseEventFilters(filters: readonly EventFilterInput[]): EventFilterSpec {
  const grouped = new Map<EventFilterKey, string[]>();
  for (const f of filters) {
    if (!(EVENT_FILTER_KEYS as readonly string[]).includes(f.key)) {
      throw new InvalidArgumentError(
        `unknown event filter ${JSON.stringify(f.key)}: use one of ${EVENT_FILTER_KEYS.join(", ")}`,
      );
    }
    const values = f.values.map((v) => v.trim()).filter((v) => v !== "");
    if (values.length === 0) throw new InvalidArgumentError(`event filter ${f.key} has no value`);
    const key = f.key as EventFilterKey;
    grouped.set(key, [...(grouped.get(key) ?? []), ...values]);
  }
  const spec: EventFilterSpec = {};
  const types = grouped.get("type");
  if (types) spec.types = new Set(types);
  const aggregates = grouped.get("aggregate");
  if (aggregates) {
    for (const a of aggregates) {
      if (!(AGGREGATES as readonly string[]).includes(a)) {
        throw new InvalidArgumentError(`unknown aggregate ${JSON.stringify(a)}: use one of ${AGGREGATES.join(", ")}`);
      }
    }
    spec.aggregates = new Set(aggregates as AggregateName[]);
  }
  const containers = grouped.get("container");
  if (containers) {
    const streamIds = new Set<string>();
    const names = new Set<string>();
    const idPrefixes = new Set<string>();
    for (const value of containers) {
      if (value.startsWith("container-") && isContainerId(value.slice("container-".length))) {
        streamIds.add(value);
        continue;
      }
      if (isContainerId(value)) {
        streamIds.add(`container-${value}`);
        continue;
      }
      const ref = normalizeContainerRef(value);
      if (ref === undefined) {
        throw new InvalidArgumentError(`container filter ${JSON.stringify(value)} is neither a container name nor an id`);
      }
      names.add(ref);
      if (looksLikeIdPrefix(ref)) idPrefixes.add(ref);
    }
    spec.containers = { streamIds, names, idPrefixes };
  }
  const hosts = grouped.get("host");
  if (hosts) spec.hosts = new Set(hosts);
  return spec;
}

/** The parts of an event the matcher reads. */
export interface FilterableEvent {
  type: string;
  streamId: string;
  data: unknown;
}

export interface EventMatcher {
  /** Learns from `event`, then says whether it passes every filter. Call for every event, in log order. */
  accept(event: FilterableEvent): boolean;
  /** Adds what a lookup outside the log knows (e.g. a projection): a container's stream id for a name, a container on a host. */
  seedContainerName(name: string, containerStreamId: string): void;
  seedContainerHost(host: string, containerStreamId: string): void;
}

export function createEventMatcher(spec: EventFilterSpec): EventMatcher {
  const containerStreams = new Set(spec.containers?.streamIds ?? []);
  const hostContainerStreams = new Set<string>();

  const learn = (event: FilterableEvent): void => {
    const data = isRecord(event.data) ? event.data : {};
    if (spec.containers && event.type === "ContainerCreated" && typeof data.name === "string") {
      if (spec.containers.names.has(data.name)) containerStreams.add(event.streamId);
    }
    if (spec.hosts && event.type === "ContainerScheduled" && typeof data.host === "string") {
      if (spec.hosts.has(data.host)) hostContainerStreams.add(event.streamId);
      else hostContainerStreams.delete(event.streamId);
    }
  };

  const matchesContainer = (streamId: string): boolean => {
    if (containerStreams.has(streamId)) return true;
    if (!streamId.startsWith("container-")) return false;
    const id = streamId.slice("container-".length);
    for (const prefix of spec.containers!.idPrefixes) if (id.startsWith(prefix)) return true;
    return false;
  };

  const matchesHost = (event: FilterableEvent): boolean => {
    const data = isRecord(event.data) ? event.data : {};
    if (typeof data.host === "string" && spec.hosts!.has(data.host)) return true;
    if (hostContainerStreams.has(event.streamId)) return true;
    return event.streamId.startsWith("host-") && spec.hosts!.has(event.streamId.slice("host-".length));
  };

  return {
    accept(event) {
      learn(event);
      if (spec.types && !spec.types.has(event.type)) return false;
      if (spec.aggregates) {
        const aggregate = aggregateOfStream(event.streamId);
        if (aggregate === undefined || !spec.aggregates.has(aggregate)) return false;
      }
      if (spec.containers && !matchesContainer(event.streamId)) return false;
      if (spec.hosts && !matchesHost(event)) return false;
      return true;
    },
    seedContainerName(name, containerStreamId) {
      if (spec.containers?.names.has(name)) containerStreams.add(containerStreamId);
    },
    seedContainerHost(host, containerStreamId) {
      if (spec.hosts?.has(host)) hostContainerStreams.add(containerStreamId);
    },
  };
}

function aggregateOfStream(streamId: string): AggregateName | undefined {
  try {
    return parseStreamId(streamId).aggregate;
  } catch {
    return undefined;
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}
