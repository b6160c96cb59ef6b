import { describe, expect, it } from "vitest";
import {
  DAEMON_CONFIG_STREAM_ID,
  aggregateOf,
  containerStreamId,
  hostStreamId,
  ipcGroupStreamId,
  isUuid,
  parseStreamId,
  toNewEvent,
} from "./event-envelope";
import type { AggregateName } from "./event-envelope";
import { CONTAINER_EVENT_SCHEMA_VERSIONS, CONTAINER_EVENT_TYPES } from "./container/events";
import { InvalidArgumentError } from "./errors";

const ID = "ab".repeat(32);
const UUID = "0b6f4c56-3a8e-4f5e-9d21-6a1f3c2b9e10";

describe("stream ids", () => {
  it("name each aggregate's streams", () => {
    expect(containerStreamId(ID)).toBe(`container-${ID}`);
    expect(hostStreamId("node-1.example")).toBe("host-node-1.example");
    expect(ipcGroupStreamId(ID)).toBe(`ipc-group-${ID}`);
    expect(DAEMON_CONFIG_STREAM_ID).toBe("config-daemon");
  });

  it("refuse bad keys", () => {
    expect(() => containerStreamId("web")).toThrow(new InvalidArgumentError("invalid container id: web"));
    expect(() => hostStreamId("")).toThrow(new InvalidArgumentError("invalid host name: "));
    expect(() => hostStreamId("a b")).toThrow(new InvalidArgumentError("invalid host name: a b"));
    expect(() => ipcGroupStreamId("x")).toThrow(InvalidArgumentError);
  });

  it.each<[string, AggregateName, string]>([
    [`container-${ID}`, "container", ID],
    ["config-daemon", "config", "daemon"],
    ["host-node-1", "host", "node-1"],
    [`ipc-group-${ID}`, "ipc-group", ID],
  ])("parseStreamId(%j) → %s / %s", (streamId, aggregate, key) => {
    expect(parseStreamId(streamId)).toEqual({ aggregate, key });
  });

  it.each(["", "container-", "widget-1", "host"])("parseStreamId refuses %j", (s) => {
    expect(() => parseStreamId(s)).toThrow(new InvalidArgumentError(`invalid stream id: ${s}`));
  });
});

describe("aggregateOf", () => {
  it("maps every container event to the container aggregate", () => {
    expect(CONTAINER_EVENT_TYPES).toHaveLength(21);
    for (const type of CONTAINER_EVENT_TYPES) expect(aggregateOf(type)).toBe("container");
  });

  it.each<[string, AggregateName]>([
    ["ContainerCheckpointed", "container"],
    ["DaemonConfigChanged", "config"],
    ["ConfigReplaced", "config"],
    ["HostRegistered", "host"],
    ["HostLost", "host"],
    ["IpcGroupFormed", "ipc-group"],
    ["ShmMountMounted", "ipc-group"],
    ["CheckpointCreated", "checkpoint"],
  ])("%s → %s", (type, aggregate) => {
    expect(aggregateOf(type)).toBe(aggregate);
  });

  it.each(["", "Container", "Widget", "containerCreated", "Container.Created", "Container Created", "Host>"])(
    "refuses %j (no aggregate, or not a subject-safe token)",
    (type) => {
      expect(() => aggregateOf(type)).toThrow(new InvalidArgumentError(`unknown event type: ${type}`));
    },
  );
});

describe("toNewEvent", () => {
  it("wraps a decided event with its id, schema version and metadata", () => {
    const event = { type: "ContainerPaused" as const, data: { containerId: ID, pausedAt: "2025-01-01T00:00:00Z" } };
    expect(
      toNewEvent(event, {
        eventId: UUID,
        schemaVersion: CONTAINER_EVENT_SCHEMA_VERSIONS.ContainerPaused,
        metadata: { correlationId: "req-1", actor: "cli" },
      }),
    ).toEqual({ eventId: UUID, type: "ContainerPaused", schemaVersion: 1, data: event.data, metadata: { correlationId: "req-1", actor: "cli" } });
    expect(toNewEvent(event, { eventId: UUID, schemaVersion: 1 }).metadata).toEqual({});
  });

  it("refuses a non-UUID id and a bad schema version", () => {
    const event = { type: "X", data: {} };
    expect(() => toNewEvent(event, { eventId: "1", schemaVersion: 1 })).toThrow(new InvalidArgumentError("invalid event id: 1"));
    expect(() => toNewEvent(event, { eventId: UUID, schemaVersion: 0 })).toThrow(new InvalidArgumentError("invalid schema version: 0"));
  });

  it("isUuid accepts the canonical form only", () => {
    expect(isUuid(UUID)).toBe(true);
    expect(isUuid(UUID.toUpperCase())).toBe(true);
    expect(isUuid(UUID.replaceAll("-", ""))).toBe(false);
  });
});
