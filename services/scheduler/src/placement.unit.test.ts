import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { ResolvedIpcMode } from "@shoal/domain";
import { planPlacement, reservationOf } from "./placement";
import type { HostUsage, HostView, PlacementPlan, PlacementRequest, PlacementSnapshot } from "./placement";

const MiB = 1024 * 1024;
const CPU = 1_000_000_000;
const id = (n: number) => n.toString(16).padStart(64, "0");
const NAMES = ["a", "b", "c", "d", "e"] as const;

const hostArb: fc.Arbitrary<HostView> = fc
  .record({
    name: fc.constantFrom(...NAMES),
    status: fc.constantFrom("ready" as const, "ready" as const, "lost" as const),
    memoryBytes: fc.integer({ min: 0, max: 1024 }).map((m) => m * MiB),
    // Half-CPU steps; undefined: a host that reported no CPU count.
    nanoCpus: fc.option(fc.integer({ min: 0, max: 16 }).map((c) => (c * CPU) / 2), { nil: undefined }),
  })
  .map(({ nanoCpus, ...h }) => (nanoCpus === undefined ? h : { ...h, nanoCpus }));

const usageArb = (host: string): fc.Arbitrary<HostUsage> =>
  fc.record({
    host: fc.constant(host),
    containers: fc.integer({ min: 1, max: 6 }),
    reservedBytes: fc.integer({ min: 0, max: 768 }).map((m) => m * MiB),
    reservedNanoCpus: fc.integer({ min: 0, max: 12 }).map((c) => (c * CPU) / 2),
  });

const modeArb: fc.Arbitrary<ResolvedIpcMode> = fc.oneof(
  fc.constant({ kind: "none" as const }),
  fc.constant({ kind: "private" as const }),
  fc.constant({ kind: "shareable" as const }),
  fc.constant({ kind: "host" as const }),
  fc.constant({ kind: "container" as const, ref: "owner" }),
);

const requestArb = (names: readonly string[]): fc.Arbitrary<PlacementRequest> =>
  fc
    .record({
      ipcMode: modeArb,
      memory: fc.option(fc.integer({ min: 6, max: 512 }), { nil: undefined }),
      cpus: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
      shm: fc.integer({ min: 0, max: 256 }),
      // Mostly unpinned (fc.option would pin 5 times in 6).
      pinnedHost: fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.constantFrom(...names, "zz"), weight: 1 }),
    })
    .map(({ ipcMode, memory, cpus, shm, pinnedHost }) => {
      const request: PlacementRequest = {
        containerId: id(1000),
        ipcMode,
        shmBytes: ipcMode.kind === "private" || ipcMode.kind === "shareable" ? shm * MiB : 0,
      };
      if (memory !== undefined) request.memoryBytes = memory * MiB;
      if (cpus !== undefined) request.nanoCpus = (cpus * CPU) / 2;
      if (pinnedHost !== undefined) request.pinnedHost = pinnedHost;
      return request;
    });

const snapshotArb: fc.Arbitrary<PlacementSnapshot> = fc
  .uniqueArray(hostArb, { selector: (h) => h.name, maxLength: 5 })
  .chain((hosts) => {
    const names = hosts.length > 0 ? hosts.map((h) => h.name) : ["a"];
    return fc.tuple(
      fc.constant(hosts),
      // Most hosts hold something, so the spread has counts to compare.
      fc.tuple(...names.map((n) => fc.option(usageArb(n), { nil: undefined, freq: 4 }))).map((us) => us.filter((u) => u !== undefined)),
      fc.option(fc.constantFrom(...names, "zz"), { nil: undefined }),
      requestArb(names),
    );
  })
  .map(([hosts, usage, ownerHost, request]) => ({
    hosts,
    usage,
    ...(ownerHost === undefined ? {} : { owner: { containerId: id(1), host: ownerHost } }),
    request,
  }));

const usageOn = (s: PlacementSnapshot, host: string) =>
  s.usage.find((u) => u.host === host) ?? { host, containers: 0, reservedBytes: 0, reservedNanoCpus: 0 };

const fitsOn = (s: PlacementSnapshot, h: HostView) => {
  const need = reservationOf(s.request);
  const u = usageOn(s, h.name);
  return u.reservedBytes + need.reservedBytes <= h.memoryBytes && (h.nanoCpus === undefined || u.reservedNanoCpus + need.reservedNanoCpus <= h.nanoCpus);
};

describe("planPlacement properties", () => {
  it("never chooses a lost or unknown host", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const plan = planPlacement(s);
        if ("place" in plan) expect(s.hosts.find((h) => h.name === plan.place.host)?.status).toBe("ready");
      }),
    );
  });

  it("never over-commits a host's memory or CPUs, counting the request's shm", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const plan = planPlacement(s);
        if (!("place" in plan)) return;
        const host = s.hosts.find((h) => h.name === plan.place.host)!;
        const { host: _, ...reserved } = plan.place;
        expect(reserved).toEqual(reservationOf(s.request));
        const u = usageOn(s, host.name);
        expect(u.reservedBytes + plan.place.reservedBytes).toBeLessThanOrEqual(host.memoryBytes);
        if (host.nanoCpus !== undefined) expect(u.reservedNanoCpus + plan.place.reservedNanoCpus).toBeLessThanOrEqual(host.nanoCpus);
      }),
    );
  });

  it("puts a member on its owner's host or nowhere", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        if (s.request.ipcMode.kind !== "container") return;
        const plan = planPlacement(s);
        if (s.owner === undefined) expect(plan).toEqual({ unavailable: "IPC owner owner is not placed on any host" });
        if ("place" in plan) expect(plan.place.host).toBe(s.owner!.host);
        // A member that does not fit there is refused with the reason, never placed elsewhere.
        const ownerHost = s.hosts.find((h) => h.name === s.owner?.host);
        if (ownerHost?.status === "ready" && !fitsOn(s, ownerHost) && s.request.pinnedHost === undefined) {
          expect(plan).toEqual({ unavailable: expect.stringContaining(`no room for the member on host ${ownerHost.name}`) });
        }
      }),
    );
  });

  it("honours a pin or says why not", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        if (s.request.pinnedHost === undefined) return;
        const plan = planPlacement(s);
        if ("place" in plan) expect(plan.place.host).toBe(s.request.pinnedHost);
        else expect(plan.unavailable.length).toBeGreaterThan(0);
      }),
    );
  });

  it("places a non-member without a pin exactly when some ready host fits, and spreads", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        if (s.request.ipcMode.kind === "container" || s.request.pinnedHost !== undefined) return;
        const fitting = s.hosts.filter((h) => h.status === "ready" && fitsOn(s, h));
        const plan = planPlacement(s);
        expect("place" in plan).toBe(fitting.length > 0);
        if (!("place" in plan)) return;
        // No fitting host has fewer containers than the chosen one.
        const chosen = usageOn(s, plan.place.host).containers;
        for (const h of fitting) expect(usageOn(s, h.name).containers).toBeGreaterThanOrEqual(chosen);
      }),
      { numRuns: 1000 },
    );
  });

  it("names the closest ready host and what it lacks when nothing fits", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        if (s.request.ipcMode.kind === "container" || s.request.pinnedHost !== undefined) return;
        const plan = planPlacement(s);
        if ("place" in plan || !s.hosts.some((h) => h.status === "ready")) return;
        const named = /^no host has room: .* needed; host (\S+) \(the closest\) has .* free \((.*) short\)$/.exec(plan.unavailable);
        expect(named, plan.unavailable).not.toBeNull();
        expect(s.hosts.find((h) => h.name === named![1])?.status).toBe("ready");
        expect(named![2]).toMatch(/CPUs?|of memory/);
      }),
    );
  });

  it("does not depend on the order of hosts or usage in the snapshot", () => {
    const withShuffles = snapshotArb.chain((s) =>
      fc.tuple(
        fc.constant(s),
        fc.shuffledSubarray([...s.hosts], { minLength: s.hosts.length }),
        fc.shuffledSubarray([...s.usage], { minLength: s.usage.length }),
      ),
    );
    fc.assert(
      fc.property(withShuffles, ([s, hosts, usage]) => {
        expect(planPlacement({ ...s, hosts, usage })).toEqual(planPlacement(s));
      }),
    );
  });
});

/** Plans `requests` one after another, each against the usage the earlier placements left. */
function placeAll(hosts: HostView[], requests: PlacementRequest[]): { plans: PlacementPlan[]; usage: Map<string, HostUsage> } {
  const usage = new Map<string, HostUsage>();
  const plans = requests.map((request) => {
    const plan = planPlacement({ hosts, usage: [...usage.values()], request });
    if ("place" in plan) {
      const u = usage.get(plan.place.host) ?? { host: plan.place.host, containers: 0, reservedBytes: 0, reservedNanoCpus: 0 };
      usage.set(plan.place.host, {
        host: u.host,
        containers: u.containers + 1,
        reservedBytes: u.reservedBytes + plan.place.reservedBytes,
        reservedNanoCpus: u.reservedNanoCpus + plan.place.reservedNanoCpus,
      });
    }
    return plan;
  });
  return { plans, usage };
}

describe("planPlacement over a sequence of starts", () => {
  const sequenceArb = fc.tuple(
    fc.uniqueArray(hostArb.map((h): HostView => ({ ...h, status: "ready" })), { selector: (h) => h.name, minLength: 1, maxLength: 5 }),
    fc.array(requestArb(["a"]).map((r): PlacementRequest => {
      const { pinnedHost: _, ...rest } = r;
      return rest.ipcMode.kind === "container" ? { ...rest, ipcMode: { kind: "none" } } : rest;
    }), { maxLength: 30 }),
  );

  it("never over-commits any host, however many starts arrive", () => {
    fc.assert(
      fc.property(sequenceArb, ([hosts, requests]) => {
        const { usage } = placeAll(hosts, requests.map((r, i) => ({ ...r, containerId: id(i) })));
        for (const h of hosts) {
          const u = usage.get(h.name);
          if (u === undefined) continue;
          expect(u.reservedBytes).toBeLessThanOrEqual(h.memoryBytes);
          if (h.nanoCpus !== undefined) expect(u.reservedNanoCpus).toBeLessThanOrEqual(h.nanoCpus);
        }
      }),
    );
  });

  it("spreads k equal containers over n equal empty hosts: counts differ by at most 1", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 256 }),
        (n, k, cpus, memory) => {
          const hosts: HostView[] = Array.from({ length: n }, (_, i) => ({ name: `h${i}`, status: "ready", memoryBytes: 64 * 1024 * MiB, nanoCpus: 1000 * CPU }));
          const request: PlacementRequest = { containerId: "", ipcMode: { kind: "private" }, shmBytes: 64 * MiB, memoryBytes: memory * MiB, nanoCpus: cpus * CPU };
          const { plans, usage } = placeAll(hosts, Array.from({ length: k }, (_, i) => ({ ...request, containerId: id(i) })));
          expect(plans.every((p) => "place" in p)).toBe(true);
          const counts = hosts.map((h) => usage.get(h.name)?.containers ?? 0);
          expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        },
      ),
    );
  });
});

describe("planPlacement examples", () => {
  const ready = (name: string, memoryBytes = 1024 * MiB, nanoCpus?: number): HostView => ({
    name,
    status: "ready",
    memoryBytes,
    ...(nanoCpus === undefined ? {} : { nanoCpus }),
  });
  const used = (host: string, containers: number, reservedBytes: number, reservedNanoCpus = 0): HostUsage => ({ host, containers, reservedBytes, reservedNanoCpus });
  const req = (over: Partial<PlacementRequest> = {}): PlacementRequest => ({
    containerId: id(99),
    ipcMode: { kind: "private" },
    shmBytes: 64 * MiB,
    ...over,
  });
  const placed = (host: string, reservedBytes: number, reservedNanoCpus = 0) => ({ place: { host, reservedBytes, reservedNanoCpus } });

  it("spreads by fewest containers, then least memory fraction, then name", () => {
    const hosts = [ready("b"), ready("a"), ready("c", 2048 * MiB)];
    expect(planPlacement({ hosts, usage: [], request: req() })).toEqual(placed("a", 64 * MiB));
    // Fewer containers wins over less memory reserved.
    expect(planPlacement({ hosts, usage: [used("a", 1, MiB), used("b", 2, 0), used("c", 1, 900 * MiB)], request: req() })).toEqual(placed("a", 64 * MiB));
    // Equal counts: the smaller share of memory reserved (c has twice the memory).
    expect(planPlacement({ hosts, usage: [used("a", 1, 400 * MiB), used("b", 1, 400 * MiB), used("c", 1, 600 * MiB)], request: req() })).toEqual(
      placed("c", 64 * MiB),
    );
  });

  it("reserves memory, the own shm and CPUs; a member only its memory and CPUs", () => {
    const owner = req({ ipcMode: { kind: "shareable" }, memoryBytes: 10 * MiB, nanoCpus: CPU / 2, shmBytes: 64 * MiB });
    expect(reservationOf(owner)).toEqual({ reservedBytes: 74 * MiB, reservedNanoCpus: CPU / 2 });
    const member = req({ ipcMode: { kind: "container", ref: "o" }, memoryBytes: 10 * MiB, nanoCpus: CPU, shmBytes: 0 });
    expect(reservationOf(member)).toEqual({ reservedBytes: 10 * MiB, reservedNanoCpus: CPU });
    expect(reservationOf(req({ ipcMode: { kind: "none" }, shmBytes: 0 }))).toEqual({ reservedBytes: 0, reservedNanoCpus: 0 });
  });

  it("places by CPUs too; a host that reported none is not limited by them", () => {
    const request = req({ nanoCpus: 2 * CPU, memoryBytes: 448 * MiB }); // 512MiB with the shm
    const hosts = [ready("h1", 4096 * MiB, 4 * CPU), ready("h2", 4096 * MiB, 4 * CPU)];
    expect(planPlacement({ hosts, usage: [used("h1", 1, 0, 3 * CPU)], request })).toEqual(placed("h2", 512 * MiB, 2 * CPU));
    expect(planPlacement({ hosts: [ready("old", 4096 * MiB)], usage: [used("old", 9, 0, 99 * CPU)], request })).toEqual(placed("old", 512 * MiB, 2 * CPU));
  });

  it("never places on a draining or avoided host, nor a pin to one; a member still joins its owner on a draining host", () => {
    const hosts = [{ ...ready("a", 4096 * MiB), draining: true }, ready("b", 4096 * MiB), ready("c", 4096 * MiB)];
    // a is empty (the spread would pick it) but draining; c is avoided: b.
    expect(planPlacement({ hosts, usage: [used("b", 3, 0, 0)], request: req({ avoidHosts: ["c"] }) })).toMatchObject({ place: { host: "b" } });
    expect(planPlacement({ hosts, usage: [], request: req({ pinnedHost: "a" }) })).toEqual({ unavailable: "pinned host a is draining" });
    expect(planPlacement({ hosts: [hosts[0]!], usage: [], request: req() })).toEqual({ unavailable: "no ready host (0 lost, 1 draining or avoided)" });
    const member = req({ ipcMode: { kind: "container", ref: "db" }, shmBytes: 0 });
    expect(planPlacement({ hosts, usage: [], owner: { containerId: "db", host: "a" }, request: member })).toMatchObject({ place: { host: "a" } });
  });

  it("says why nothing fits, naming the closest host and what is missing", () => {
    expect(planPlacement({ hosts: [], usage: [], request: req() })).toEqual({ unavailable: "no hosts registered" });
    expect(planPlacement({ hosts: [{ name: "a", status: "lost", memoryBytes: MiB }], usage: [], request: req() })).toEqual({
      unavailable: "no ready host (1 lost, 0 draining or avoided)",
    });
    expect(planPlacement({ hosts: [ready("a", 32 * MiB)], usage: [], request: req() })).toEqual({
      unavailable: "no host has room: 64MiB of memory needed; host a (the closest) has 32MiB free (32MiB of memory short)",
    });
    const request = req({ nanoCpus: 2 * CPU, memoryBytes: 448 * MiB });
    const hosts = [ready("h1", 2048 * MiB, 1 * CPU), ready("h2", 2048 * MiB, 4 * CPU), ready("h3", 256 * MiB, 8 * CPU)];
    // h1 lacks half the CPUs; h2 a quarter of them; h3 half the memory: h2 is the closest.
    expect(planPlacement({ hosts, usage: [used("h2", 3, 1024 * MiB, 2.5 * CPU)], request })).toEqual({
      unavailable: "no host has room: 2 CPUs and 512MiB of memory needed; host h2 (the closest) has 1.5 CPUs and 1GiB free (0.5 CPUs short)",
    });
    expect(planPlacement({ hosts: [ready("h1", 256 * MiB, CPU)], usage: [], request })).toEqual({
      unavailable: "no host has room: 2 CPUs and 512MiB of memory needed; host h1 (the closest) has 1 CPU and 256MiB free (1 CPU and 256MiB of memory short)",
    });
    expect(planPlacement({ hosts: [ready("a")], usage: [], request: req({ pinnedHost: "x" }) })).toEqual({
      unavailable: "pinned host x is not registered",
    });
    expect(planPlacement({ hosts: [ready("a", 32 * MiB), ready("b")], usage: [], request: req({ pinnedHost: "a" }) })).toEqual({
      unavailable: "no room on pinned host a: 64MiB of memory needed; host a has 32MiB free (32MiB of memory short)",
    });
  });

  it("refuses a member whose owner's host is lost or full, never placing it elsewhere", () => {
    const member = req({ ipcMode: { kind: "container", ref: "db" }, shmBytes: 0, memoryBytes: 128 * MiB });
    const owner = { containerId: id(1), host: "a" };
    expect(planPlacement({ hosts: [{ name: "a", status: "lost", memoryBytes: 1024 * MiB }, ready("b")], usage: [], owner, request: member })).toEqual({
      unavailable: `host a of IPC owner ${id(1)} is lost`,
    });
    expect(planPlacement({ hosts: [ready("a"), ready("b")], usage: [used("a", 1, 960 * MiB)], owner, request: member })).toEqual({
      unavailable: `no room for the member on host a of IPC owner ${id(1)}: 128MiB of memory needed; host a has 64MiB free (64MiB of memory short)`,
    });
    expect(planPlacement({ hosts: [ready("a"), ready("b")], usage: [used("a", 1, 512 * MiB)], owner, request: member })).toEqual(placed("a", 128 * MiB));
  });
});

describe("planPlacement's image preference", () => {
  const image = `sha256:${"ab".repeat(32)}`;
  const host = (name: string, images: string[] = []): HostView => ({ name, status: "ready", memoryBytes: 1024 * MiB, images: new Set(images) });
  const request: PlacementRequest = { containerId: id(1), ipcMode: { kind: "private" }, shmBytes: 64 * MiB, imageId: image };
  const placed = (plan: PlacementPlan) => ("place" in plan ? plan.place.host : plan.unavailable);

  it("prefers a host that holds the image over an equally loaded one", () => {
    expect(placed(planPlacement({ hosts: [host("a"), host("b", [image])], usage: [], request }))).toBe("b");
  });

  it("is worth one container: a tie then falls to the next rule, and a busier host loses", () => {
    const usage: HostUsage[] = [{ host: "b", containers: 1, reservedBytes: 0, reservedNanoCpus: 0 }];
    expect(placed(planPlacement({ hosts: [host("a"), host("b", [image])], usage, request }))).toBe("a");
    const busier: HostUsage[] = [{ host: "b", containers: 2, reservedBytes: 0, reservedNanoCpus: 0 }];
    expect(placed(planPlacement({ hosts: [host("a"), host("b", [image])], usage: busier, request }))).toBe("a");
  });

  it("never places where the container does not fit, image or not", () => {
    const full = { ...host("b", [image]), memoryBytes: 32 * MiB };
    expect(placed(planPlacement({ hosts: [host("a"), full], usage: [], request }))).toBe("a");
  });
});
