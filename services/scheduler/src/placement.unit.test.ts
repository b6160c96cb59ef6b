import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { ResolvedIpcMode } from "@shoal/domain";
import { planPlacement, reservationBytes } from "./placement";
import type { ContainerView, HostView, PlacementRequest, PlacementSnapshot } from "./placement";

const MiB = 1024 * 1024;
const id = (n: number) => n.toString(16).padStart(64, "0");

const hostArb: fc.Arbitrary<HostView> = fc.record({
  name: fc.constantFrom("a", "b", "c", "d", "e"),
  status: fc.constantFrom("ready" as const, "ready" as const, "lost" as const),
  memoryBytes: fc.integer({ min: 0, max: 1024 }).map((m) => m * MiB),
});

const snapshotArb: fc.Arbitrary<PlacementSnapshot> = fc
  .uniqueArray(hostArb, { selector: (h) => h.name, maxLength: 5 })
  .chain((hosts) => {
    const names = hosts.length > 0 ? hosts.map((h) => h.name) : ["a"];
    const containers = fc.array(
      fc.record({ host: fc.constantFrom(...names), reservedBytes: fc.integer({ min: 0, max: 512 }).map((m) => m * MiB) }),
      { maxLength: 8 },
    );
    const mode: fc.Arbitrary<ResolvedIpcMode> = fc.oneof(
      fc.constant({ kind: "none" as const }),
      fc.constant({ kind: "private" as const }),
      fc.constant({ kind: "shareable" as const }),
      fc.constant({ kind: "host" as const }),
      fc.constant({ kind: "container" as const, ref: "owner" }),
    );
    return fc.tuple(fc.constant(hosts), containers, mode, fc.option(fc.nat(10)), fc.option(fc.constantFrom(...names, "zz"), { nil: undefined }), fc.integer({ min: 0, max: 256 }), fc.integer({ min: 0, max: 256 }));
  })
  .map(([hosts, placed, ipcMode, owner, pinnedHost, memory, shm]) => {
    const containers: ContainerView[] = placed.map((c, i) => ({ containerId: id(i), ...c }));
    const request: PlacementRequest = {
      containerId: id(1000),
      ipcMode,
      memoryBytes: memory * MiB,
      shmBytes: ipcMode.kind === "private" || ipcMode.kind === "shareable" ? shm * MiB : 0,
    };
    if (ipcMode.kind === "container" && owner !== null) request.ownerId = id(owner);
    if (pinnedHost !== undefined) request.pinnedHost = pinnedHost;
    return { hosts, containers, request };
  });

const reservedOn = (s: PlacementSnapshot, host: string) =>
  s.containers.filter((c) => c.host === host).reduce((sum, c) => sum + c.reservedBytes, 0);

describe("planPlacement properties", () => {
  it("never chooses a lost or unknown host", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const plan = planPlacement(s);
        if ("place" in plan) expect(s.hosts.find((h) => h.name === plan.place.host)?.status).toBe("ready");
      }),
    );
  });

  it("never places beyond a host's memory, counting the request's shm", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const plan = planPlacement(s);
        if (!("place" in plan)) return;
        const host = s.hosts.find((h) => h.name === plan.place.host)!;
        expect(plan.place.reservedBytes).toBe(reservationBytes(s.request));
        expect(reservedOn(s, host.name) + plan.place.reservedBytes).toBeLessThanOrEqual(host.memoryBytes);
      }),
    );
  });

  it("puts a member on its owner's host or nowhere", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        if (s.request.ipcMode.kind !== "container") return;
        const plan = planPlacement(s);
        const owner = s.containers.find((c) => c.containerId === s.request.ownerId);
        if (owner === undefined) expect(plan).toEqual({ unavailable: expect.stringContaining("is not placed") });
        if ("place" in plan) expect(plan.place.host).toBe(owner!.host);
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

  it("places whenever some ready host fits a non-member without a pin", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        if (s.request.ipcMode.kind === "container" || s.request.pinnedHost !== undefined) return;
        const need = reservationBytes(s.request);
        const fits = s.hosts.some((h) => h.status === "ready" && reservedOn(s, h.name) + need <= h.memoryBytes);
        expect("place" in planPlacement(s)).toBe(fits);
      }),
    );
  });

  it("is deterministic: the same snapshot in any order gives the same plan", () => {
    const withShuffles = snapshotArb.chain((s) =>
      fc.tuple(
        fc.constant(s),
        fc.shuffledSubarray([...s.hosts], { minLength: s.hosts.length }),
        fc.shuffledSubarray([...s.containers], { minLength: s.containers.length }),
      ),
    );
    fc.assert(
      fc.property(withShuffles, ([s, hosts, containers]) => {
        expect(planPlacement({ ...s, hosts, containers })).toEqual(planPlacement(s));
      }),
    );
  });
});

describe("planPlacement examples", () => {
  const ready = (name: string, memoryBytes = 1024 * MiB): HostView => ({ name, status: "ready", memoryBytes });
  const req = (over: Partial<PlacementRequest> = {}): PlacementRequest => ({
    containerId: id(99),
    ipcMode: { kind: "private" },
    shmBytes: 64 * MiB,
    ...over,
  });

  it("breaks ties by least reserved, then by name", () => {
    const hosts = [ready("b"), ready("a"), ready("c")];
    expect(planPlacement({ hosts, containers: [], request: req() })).toEqual({ place: { host: "a", reservedBytes: 64 * MiB } });
    const containers = [{ containerId: id(1), host: "a", reservedBytes: MiB }];
    expect(planPlacement({ hosts, containers, request: req() })).toEqual({ place: { host: "b", reservedBytes: 64 * MiB } });
  });

  it("counts an owner's shm but not a member's", () => {
    const owner = req({ ipcMode: { kind: "shareable" }, memoryBytes: 10 * MiB, shmBytes: 64 * MiB });
    expect(reservationBytes(owner)).toBe(74 * MiB);
    const member = req({ ipcMode: { kind: "container", ref: "o" }, ownerId: id(1), memoryBytes: 10 * MiB, shmBytes: 0 });
    expect(reservationBytes(member)).toBe(10 * MiB);
  });

  it("says why nothing fits", () => {
    expect(planPlacement({ hosts: [], containers: [], request: req() })).toEqual({ unavailable: "no hosts registered" });
    expect(planPlacement({ hosts: [{ name: "a", status: "lost", memoryBytes: MiB }], containers: [], request: req() })).toEqual({
      unavailable: "no ready host (1 lost)",
    });
    expect(planPlacement({ hosts: [ready("a", 32 * MiB)], containers: [], request: req() })).toEqual({
      unavailable: `not enough memory: ${64 * MiB} bytes needed, at most ${32 * MiB} free (host a)`,
    });
    expect(planPlacement({ hosts: [ready("a")], containers: [], request: req({ pinnedHost: "x" }) })).toEqual({
      unavailable: "pinned host x is not registered",
    });
  });

  it("refuses a member whose owner's host is lost", () => {
    const hosts: HostView[] = [{ name: "a", status: "lost", memoryBytes: 1024 * MiB }, ready("b")];
    const containers = [{ containerId: id(1), host: "a", reservedBytes: MiB }];
    const member = req({ ipcMode: { kind: "container", ref: "db" }, ownerId: id(1), shmBytes: 0 });
    expect(planPlacement({ hosts, containers, request: member })).toEqual({
      unavailable: `host a of IPC owner ${id(1)} is lost`,
    });
  });
});
