import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { planReconcile } from "./reconcile-plan";
import type { HostListing, LoggedShmMount, ReconcileSnapshot } from "./reconcile-plan";

const ids = ["a", "b", "c", "d", "e", "f"].map((c) => c.repeat(64));
const hosts = ["h1", "h2", "h3"];

const mountArb = fc.record({
  ownerId: fc.constantFrom(...ids),
  host: fc.constantFrom(...hosts),
  members: fc.uniqueArray(fc.constantFrom(...ids), { maxLength: 3 }),
});
const listingArb: fc.Arbitrary<HostListing | undefined> = fc.option(
  fc.record(
    {
      containers: fc.array(
        fc.record({
          containerId: fc.constantFrom(...ids),
          status: fc.constantFrom("starting", "running", "exited"),
          live: fc.boolean(),
        }),
        { maxLength: 6 },
      ),
      shmMounts: fc.uniqueArray(fc.constantFrom(...ids), { maxLength: 4 }),
    },
    { requiredKeys: ["containers"] },
  ),
  { nil: undefined },
);
const snapshotArb: fc.Arbitrary<ReconcileSnapshot> = fc
  .record({
    // One logged mount per owner, as the log keeps it.
    mounts: fc.uniqueArray(mountArb, { selector: (m) => m.ownerId, maxLength: 5 }),
    listings: fc.tuple(listingArb, listingArb, listingArb),
    starting: fc.uniqueArray(fc.constantFrom(...ids), { maxLength: 2 }),
  })
  .map(({ mounts, listings, starting }) => ({
    mounts: mounts.map((m): LoggedShmMount => ({ ...m, members: m.members.filter((x) => x !== m.ownerId), path: `/s/${m.ownerId}` })),
    hosts: new Map(hosts.map((h, i) => [h, listings[i]])),
    startsInProgress: new Set(starting),
  }));

function liveOn(s: ReconcileSnapshot, host: string): Set<string> {
  const l = s.hosts.get(host);
  return new Set((l?.containers ?? []).filter((c) => c.live || c.status !== "exited").map((c) => c.containerId));
}

describe("planReconcile", () => {
  it("puts every logged mount in exactly one of keep, unmount, lost", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const p = planReconcile(s);
        const all = [...p.keep, ...p.unmount, ...p.lost].map((m) => m.ownerId).sort();
        expect(all).toEqual(s.mounts.map((m) => m.ownerId).sort());
      }),
    );
  });

  it("never unmounts a mount that its owner or a member is using or starting with", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        for (const m of planReconcile(s).unmount) {
          const live = liveOn(s, m.host);
          for (const user of [m.ownerId, ...m.members]) {
            expect(live.has(user)).toBe(false);
            expect(s.startsInProgress.has(user)).toBe(false);
          }
          expect(s.hosts.get(m.host)).toBeDefined();
        }
      }),
    );
  });

  it("unmounts every mount nobody uses on a host that answered; lost only when the host did not answer", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const p = planReconcile(s);
        for (const m of s.mounts) {
          const users = [m.ownerId, ...m.members];
          const starting = users.some((u) => s.startsInProgress.has(u));
          const answered = s.hosts.get(m.host) !== undefined;
          const used = users.some((u) => liveOn(s, m.host).has(u));
          const expected = starting || (answered && used) ? "keep" : answered ? "unmount" : "lost";
          const actual = p.keep.includes(m) ? "keep" : p.unmount.includes(m) ? "unmount" : "lost";
          expect(actual).toBe(expected);
        }
      }),
    );
  });

  it("orphans are host mounts the log does not have, with no live or starting owner", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const p = planReconcile(s);
        for (const o of p.orphans) {
          expect(s.hosts.get(o.host)?.shmMounts).toContain(o.ownerId);
          expect(s.mounts.some((m) => m.host === o.host && m.ownerId === o.ownerId)).toBe(false);
          expect(liveOn(s, o.host).has(o.ownerId)).toBe(false);
          expect(s.startsInProgress.has(o.ownerId)).toBe(false);
        }
        const keys = p.orphans.map((o) => `${o.host}/${o.ownerId}`);
        expect(new Set(keys).size).toBe(keys.length);
      }),
    );
  });

  it("without mount listings from agents, plans on containers only and finds no orphans", () => {
    const owner = ids[0]!;
    const member = ids[1]!;
    const mount: LoggedShmMount = { ownerId: owner, host: "h1", path: "/p", members: [member] };
    const withMember = planReconcile({
      mounts: [mount],
      hosts: new Map([["h1", { containers: [{ containerId: member, status: "running", live: true }] }]]),
      startsInProgress: new Set(),
    });
    expect(withMember).toEqual({ keep: [mount], unmount: [], lost: [], orphans: [] });
    const nobody = planReconcile({
      mounts: [mount],
      hosts: new Map([["h1", { containers: [{ containerId: owner, status: "exited", live: false }] }]]),
      startsInProgress: new Set(),
    });
    expect(nobody).toEqual({ keep: [], unmount: [mount], lost: [], orphans: [] });
  });
});
