import { describe, it } from "vitest";
import { InvalidArgumentError, NotFoundError } from "@shoal/domain";
import type { HostCapabilities } from "@shoal/domain";
import { DeciderSpecification } from "@shoal/domain/testing";
import { hostDecider } from "./host-decider";
import type { HostEvent, MarkHostLost, RegisterHost } from "./host-decider";

const spec = DeciderSpecification.for(hostDecider);
const caps: HostCapabilities = {
  kernelVersion: "6.1",
  cgroupVersion: "v2",
  runtimes: [],
  apparmor: { enabled: false },
  criu: { available: false, reason: "not installed" },
  stateRoot: "/var/lib/shoal",
};
const t0 = "2026-01-01T00:00:00.000Z";
const t1 = "2026-01-01T00:01:00.000Z";

const register = (registeredAt: string, memoryBytes = 1024): RegisterHost => ({
  type: "RegisterHost",
  data: { host: "h1", capabilities: caps, memoryBytes, registeredAt },
});
const registered = (registeredAt: string, memoryBytes = 1024): HostEvent => ({
  type: "HostRegistered",
  data: { host: "h1", capabilities: caps, memoryBytes, registeredAt },
});
const markLost = (registeredAt: string): MarkHostLost => ({
  type: "MarkHostLost",
  data: { host: "h1", registeredAt, lastSeenAt: t1, timeoutMs: 15_000, now: "2026-01-01T00:02:00.000Z" },
});
const lost = (registeredAt: string): HostEvent => ({
  type: "HostLost",
  data: {
    host: "h1",
    registeredAt,
    lastSeenAt: t1,
    reason: `no heartbeat for more than 15000 ms (last seen ${t1})`,
    lostAt: "2026-01-01T00:02:00.000Z",
  },
});

describe("host decider", () => {
  it("records a first registration", () => {
    spec.given([]).when(register(t0)).then([registered(t0)]);
  });

  it("records a re-registration of a restarted agent, also after the host was lost", () => {
    spec.given([registered(t0)]).when(register(t1, 2048)).then([registered(t1, 2048)]);
    spec.given([registered(t0), lost(t0)]).when(register(t1)).then([registered(t1)]);
  });

  it("records the CPUs a host offers when it reports them, and none when it does not", () => {
    const withCpus = { type: "RegisterHost" as const, data: { ...register(t0).data, nanoCpus: 4_000_000_000 } };
    spec.given([]).when(withCpus).then([{ type: "HostRegistered", data: { ...withCpus.data } }]);
    spec.given([]).when(register(t0)).then([registered(t0)]); // no nanoCpus key at all
    spec.given([]).when({ ...withCpus, data: { ...withCpus.data, nanoCpus: 1.5 } }).thenThrows(InvalidArgumentError, "invalid host CPUs: 1.5 nano-CPUs");
  });

  it("ignores a registration report that arrives after a newer one, or the same one again", () => {
    spec.given([registered(t1)]).when(register(t0)).thenNothingHappened();
    spec.given([registered(t1)]).when(register(t1)).thenNothingHappened();
    spec.given([registered(t1), lost(t1)]).when(register(t1)).thenNothingHappened();
  });

  it("marks the registration in force lost, once", () => {
    spec.given([registered(t0)]).when(markLost(t0)).then([lost(t0)]);
    spec.given([registered(t0), lost(t0)]).when(markLost(t0)).thenNothingHappened();
  });

  it("does not mark a host lost when it re-registered since the silence was seen", () => {
    spec.given([registered(t0), registered(t1)]).when(markLost(t0)).thenNothingHappened();
  });

  it("refuses to mark an unknown host and malformed commands", () => {
    spec.given([]).when(markLost(t0)).thenThrows(NotFoundError, "no such host: h1");
    spec.given([]).when(register("yesterday")).thenThrows(InvalidArgumentError, "invalid registeredAt: yesterday");
    spec.given([]).when(register(t0, -1)).thenThrows(InvalidArgumentError, "invalid host memory: -1");
    spec
      .given([])
      .when({ type: "RegisterHost", data: { ...register(t0).data, host: "a.b c" } })
      .thenThrows(InvalidArgumentError, "invalid host name: a.b c");
  });
});
