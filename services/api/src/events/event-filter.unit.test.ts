import fc from "fast-check";
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

describe("createEventMatcher against a model (property)", () => {
  const ids = ["1".repeat(64), "2".repeat(64), "3".repeat(64)];
  const names = ["web", "db"];
  const hosts = ["h1", "h2"];
  const eventArb = fc.oneof(
    fc.record({ kind: fc.constant("created" as const), c: fc.integer({ min: 0, max: 2 }), name: fc.constantFrom(...names) }),
    fc.record({ kind: fc.constant("scheduled" as const), c: fc.integer({ min: 0, max: 2 }), host: fc.constantFrom(...hosts) }),
    fc.record({ kind: fc.constant("started" as const), c: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ kind: fc.constant("host" as const), host: fc.constantFrom(...hosts) }),
  );
  type Ev = { type: string; streamId: string; data: Record<string, unknown> };
  type Raw = typeof eventArb extends fc.Arbitrary<infer T> ? T : never;
  const toEvent = (e: Raw): Ev => {
    switch (e.kind) {
      case "created":
        return { type: "ContainerCreated", streamId: `container-${ids[e.c]}`, data: { name: e.name } };
      case "scheduled":
        return { type: "ContainerScheduled", streamId: `container-${ids[e.c]}`, data: { host: e.host } };
      case "started":
        return { type: "ContainerStarted", streamId: `container-${ids[e.c]}`, data: {} };
      default:
        return { type: "HostRegistered", streamId: `host-${e.host}`, data: { host: e.host } };
    }
  };

  it("accepts exactly what the log up to each event says matches every filter", () => {
    fc.assert(
      fc.property(
        fc.array(eventArb, { maxLength: 40 }),
        fc.option(fc.constantFrom(...names), { nil: undefined }),
        fc.option(fc.constantFrom(...hosts), { nil: undefined }),
        fc.option(fc.constantFrom("ContainerStarted", "ContainerScheduled", "HostRegistered"), { nil: undefined }),
        (raw, name, host, type) => {
          const filters = [
            ...(name ? [{ key: "container", values: [name] }] : []),
            ...(host ? [{ key: "host", values: [host] }] : []),
            ...(type ? [{ key: "type", values: [type] }] : []),
          ];
          const m = createEventMatcher(parseEventFilters(filters));
          const events = raw.map(toEvent);
          events.forEach((e, i) => {
            const before = events.slice(0, i + 1);
            const namedAs = (n: string) =>
              before.some((x) => x.type === "ContainerCreated" && x.streamId === e.streamId && x.data.name === n);
            const lastHost = before.filter((x) => x.type === "ContainerScheduled" && x.streamId === e.streamId).at(-1)
              ?.data.host;
            const want =
              (!name || namedAs(name)) &&
              (!host || e.data.host === host || e.streamId === `host-${host}` || lastHost === host) &&
              (!type || e.type === type);
            expect(m.accept(e)).toBe(want);
          });
        },
      ),
    );
  });
});
