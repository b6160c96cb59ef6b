import { describe, expect, it } from "vitest";
import { createCapacityView } from "./capacity-view";
import type { Reservation } from "./capacity-view";
import { planPlacement } from "./placement";

const MiB = 1024 * 1024;
const T0 = new Date("2026-01-01T00:00:00.000Z");
const T1 = new Date("2026-01-01T00:01:00.000Z");
const id = (c: string) => c.repeat(64);
const CPU = 1_000_000_000;
const res = (
  containerId: string,
  host: string,
  reservedBytes: number,
  scheduledVersion = 3,
  containerName = containerId.slice(0, 4),
  reservedNanoCpus = 0,
): Reservation => ({
  containerId,
  containerName,
  host,
  reservedBytes,
  reservedNanoCpus,
  scheduledVersion,
});
const viewOf = (placements: Reservation[] = []) =>
  createCapacityView({
    hosts: [
      { name: "h1", status: "ready", memoryBytes: 256 * MiB, registeredAt: T0 },
      { name: "h2", status: "ready", memoryBytes: 256 * MiB, registeredAt: T0 },
    ],
    placements,
  });
const usageOn = (view: ReturnType<typeof viewOf>, host: string, except = id("z")) => view.inputsFor(except).usage.find((u) => u.host === host);
const reservedOn = (view: ReturnType<typeof viewOf>, host: string, except = id("z")) => usageOn(view, host, except)?.reservedBytes ?? 0;

describe("capacity view", () => {
  it("sums reservations per host (containers, memory, CPUs), leaving out the request's own", () => {
    const view = viewOf([res(id("a"), "h1", 100 * MiB, 3, "a", CPU), res(id("b"), "h1", 50 * MiB, 3, "b", CPU / 2), res(id("c"), "h2", 10 * MiB)]);
    expect(usageOn(view, "h1")).toEqual({ host: "h1", containers: 2, reservedBytes: 150 * MiB, reservedNanoCpus: 1.5 * CPU });
    expect(usageOn(view, "h2")).toEqual({ host: "h2", containers: 1, reservedBytes: 10 * MiB, reservedNanoCpus: 0 });
    // A container placed again does not compete with its old reservation.
    expect(usageOn(view, "h1", id("a"))).toEqual({ host: "h1", containers: 1, reservedBytes: 50 * MiB, reservedNanoCpus: CPU / 2 });
    expect(usageOn(view, "h2", id("c"))).toBeUndefined();
  });

  it("keeps the newest reservation and releases only older ones", () => {
    const view = viewOf();
    view.reserve(res(id("a"), "h1", 100 * MiB, 3));
    view.reserve(res(id("a"), "h2", 20 * MiB, 7)); // placed again after a restart
    view.reserve(res(id("a"), "h1", 100 * MiB, 3)); // a late copy of the first
    expect(view.reservationsOn("h1")).toEqual([]);
    expect(view.reservationsOn("h2")).toEqual([res(id("a"), "h2", 20 * MiB, 7)]);
    expect(view.release(id("a"), 5)).toBe(0); // the first run's exit
    expect(reservedOn(view, "h2")).toBe(20 * MiB);
    expect(view.release(id("a"), 9)).toBe(1);
    expect(view.release(id("a"), 9)).toBe(0);
    expect(reservedOn(view, "h2")).toBe(0);
  });

  it("frees capacity for the planner once a reservation is released", () => {
    const view = viewOf([res(id("a"), "h1", 200 * MiB), res(id("b"), "h2", 200 * MiB)]);
    const request = { containerId: id("c"), ipcMode: { kind: "private" as const }, shmBytes: 128 * MiB };
    const plan = () => planPlacement({ ...view.inputsFor(id("c")), request });
    expect(plan()).toMatchObject({ unavailable: expect.stringMatching(/^no host has room: 128MiB of memory needed/) });
    view.release(id("b"), 6);
    expect(plan()).toEqual({ place: { host: "h2", reservedBytes: 128 * MiB, reservedNanoCpus: 0 } });
    expect(usageOn(view, "h2")).toBeUndefined();
  });

  it("follows the newest registration; a loss applies only to the registration it names", () => {
    const view = viewOf();
    view.markHostLost({ name: "h1", registeredAt: T1 });
    expect(view.host("h1")?.status).toBe("ready");
    view.markHostLost({ name: "h1", registeredAt: T0.toISOString() });
    expect(view.host("h1")?.status).toBe("lost");
    view.registerHost({ name: "h1", memoryBytes: 512 * MiB, registeredAt: T0 }); // a repeated report
    expect(view.host("h1")?.status).toBe("lost");
    view.registerHost({ name: "h1", memoryBytes: 512 * MiB, nanoCpus: 2 * CPU, registeredAt: T1.toISOString() });
    expect(view.host("h1")).toMatchObject({ status: "ready", memoryBytes: 512 * MiB, nanoCpus: 2 * CPU });
    expect(view.inputsFor(id("z")).hosts.find((h) => h.name === "h1")).toEqual({ name: "h1", status: "ready", memoryBytes: 512 * MiB, nanoCpus: 2 * CPU });
    // A registration without a CPU count: not limited by CPUs (no nanoCpus at all).
    expect(view.inputsFor(id("z")).hosts.find((h) => h.name === "h2")).toEqual({ name: "h2", status: "ready", memoryBytes: 256 * MiB });
    view.registerHost({ name: "h3", memoryBytes: MiB, registeredAt: T0 });
    expect(view.inputsFor(id("z")).hosts.map((h) => h.name).sort()).toEqual(["h1", "h2", "h3"]);
  });

  it("finds a member's owner by the id its start request carries, never the request itself", () => {
    const db = res("abc1" + "0".repeat(60), "h1", 0, 3, "db");
    const cache = res("fff" + "0".repeat(61), "h2", 0, 3, "cache");
    const view = viewOf([db, cache]);
    expect(view.inputsFor(id("z"), db.containerId).owner?.containerName).toBe("db");
    // Names and prefixes are the api's to resolve, once, at start.
    expect(view.inputsFor(id("z"), "db").owner).toBeUndefined();
    expect(view.inputsFor(id("z"), "abc1").owner).toBeUndefined();
    expect(view.inputsFor(id("z"), id("nobody")).owner).toBeUndefined();
    expect(view.inputsFor(cache.containerId, cache.containerId).owner).toBeUndefined();
    // The owner says where; the totals count its reservation once.
    const inputs = view.inputsFor(id("z"), db.containerId);
    expect(inputs.owner).toMatchObject({ containerId: db.containerId, host: "h1" });
    expect(inputs.usage.find((u) => u.host === "h1")?.containers).toBe(1);
  });

  it("runs exclusive sections one at a time, in order, and goes on after a throw", async () => {
    const view = viewOf();
    const trace: string[] = [];
    const section = (name: string, ms: number, fail = false) =>
      view.exclusive(async () => {
        trace.push(`${name}:in`);
        await new Promise((r) => setTimeout(r, ms));
        trace.push(`${name}:out`);
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([section("a", 20), section("b", 1, true), section("c", 5)]);
    expect(trace).toEqual(["a:in", "a:out", "b:in", "b:out", "c:in", "c:out"]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
  });
});

describe("reservationsOn, kept by host", () => {
  it("lists exactly the reservations on each host, in id order, after any sequence of reserves and releases", async () => {
    const fc = (await import("fast-check")).default;
    const step = fc.oneof(
      fc.record({ op: fc.constant("reserve" as const), c: fc.constantFrom("a", "b", "c", "d"), host: fc.constantFrom("h1", "h2", "h3"), v: fc.nat(9) }),
      fc.record({ op: fc.constant("release" as const), c: fc.constantFrom("a", "b", "c", "d"), v: fc.nat(9) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const view = viewOf();
        const model = new Map<string, Reservation>();
        for (const s of steps) {
          if (s.op === "reserve") {
            const held = model.get(id(s.c));
            view.reserve(res(id(s.c), s.host, MiB, s.v));
            if (held === undefined || held.scheduledVersion < s.v) model.set(id(s.c), res(id(s.c), s.host, MiB, s.v));
          } else {
            const held = model.get(id(s.c));
            view.release(id(s.c), s.v);
            if (held !== undefined && held.scheduledVersion < s.v) model.delete(id(s.c));
          }
        }
        for (const host of ["h1", "h2", "h3"]) {
          const expected = [...model.values()].filter((r) => r.host === host).sort((x, y) => (x.containerId < y.containerId ? -1 : 1));
          expect(view.reservationsOn(host)).toEqual(expected);
        }
      }),
    );
  });
});
