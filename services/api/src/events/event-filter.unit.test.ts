import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "@shoal/domain";
import { createEventMatcher, parseEventFilters } from "./event-filter";

const A = "a".repeat(64);
const B = "b".repeat(64);

describe("parseEventFilters", () => {
  it("refuses unknown keys, empty values, unknown aggregates and malformed container refs", () => {
    expect(() => parseEventFilters([{ key: "event", values: ["x"] }])).toThrow(/unknown event filter "event"/);
    expect(() => parseEventFilters([{ key: "type", values: [" "] }])).toThrow(/event filter type has no value/);
    expect(() => parseEventFilters([{ key: "aggregate", values: ["pod"] }])).toThrow(/unknown aggregate "pod"/);
    expect(() => parseEventFilters([{ key: "container", values: ["no spaces"] }])).toThrow(InvalidArgumentError);
  });

  it("turns ids and stream ids into stream ids, and keeps names (hex-looking ones also as id prefixes)", () => {
    const spec = parseEventFilters([
      { key: "container", values: [A, `container-${B}`, "/web"] },
      { key: "container", values: ["abc1"] },
    ]);
    expect([...spec.containers!.streamIds]).toEqual([`container-${A}`, `container-${B}`]);
    expect([...spec.containers!.names]).toEqual(["web", "abc1"]);
    expect([...spec.containers!.idPrefixes]).toEqual(["abc1"]);
  });
});

describe("createEventMatcher", () => {
  it("passes everything without filters", () => {
    const m = createEventMatcher(parseEventFilters([]));
    expect(m.accept({ type: "HostRegistered", streamId: "host-h1", data: {} })).toBe(true);
  });

  it("ANDs across keys and ORs within a key", () => {
    const m = createEventMatcher(
      parseEventFilters([
        { key: "type", values: ["ContainerStarted", "ContainerExited"] },
        { key: "container", values: [A] },
      ]),
    );
    expect(m.accept({ type: "ContainerStarted", streamId: `container-${A}`, data: {} })).toBe(true);
    expect(m.accept({ type: "ContainerExited", streamId: `container-${A}`, data: {} })).toBe(true);
    expect(m.accept({ type: "ContainerStarted", streamId: `container-${B}`, data: {} })).toBe(false);
    expect(m.accept({ type: "ContainerCreated", streamId: `container-${A}`, data: {} })).toBe(false);
  });

  it("learns a name from ContainerCreated even when the type filter rejects that event", () => {
    const m = createEventMatcher(
      parseEventFilters([
        { key: "container", values: ["web"] },
        { key: "type", values: ["ContainerStarted"] },
      ]),
    );
    expect(m.accept({ type: "ContainerStarted", streamId: `container-${A}`, data: {} })).toBe(false);
    expect(m.accept({ type: "ContainerCreated", streamId: `container-${A}`, data: { name: "web" } })).toBe(false);
    expect(m.accept({ type: "ContainerStarted", streamId: `container-${A}`, data: {} })).toBe(true);
  });

  it("follows a container onto the host it was scheduled to, and off it when rescheduled", () => {
    const m = createEventMatcher(parseEventFilters([{ key: "host", values: ["h1"] }]));
    const s = `container-${A}`;
    expect(m.accept({ type: "ContainerStartRequested", streamId: s, data: {} })).toBe(false);
    expect(m.accept({ type: "ContainerScheduled", streamId: s, data: { host: "h1" } })).toBe(true);
    expect(m.accept({ type: "ContainerStarted", streamId: s, data: {} })).toBe(true);
    expect(m.accept({ type: "HostLost", streamId: "host-h1", data: {} })).toBe(true);
    expect(m.accept({ type: "ContainerScheduled", streamId: s, data: { host: "h2" } })).toBe(false);
    expect(m.accept({ type: "ContainerStarted", streamId: s, data: {} })).toBe(false);
  });

  it("matches aggregates by stream id and uses seeds from a projection", () => {
    const m = createEventMatcher(
      parseEventFilters([
        { key: "aggregate", values: ["container"] },
        { key: "container", values: ["db"] },
      ]),
    );
    m.seedContainerName("db", `container-${B}`);
    m.seedContainerName("other", `container-${A}`);
    expect(m.accept({ type: "ContainerStarted", streamId: `container-${B}`, data: {} })).toBe(true);
    expect(m.accept({ type: "ContainerStarted", streamId: `container-${A}`, data: {} })).toBe(false);
    expect(m.accept({ type: "DaemonConfigChanged", streamId: "config-daemon", data: {} })).toBe(false);
  });
});
