import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { planFence, planSelfFence } from "./fence-plan";

describe("planFence", () => {
  it("kills what the log placed elsewhere, keeps what it places here", () => {
    expect(
      planFence({
        local: [{ containerId: "a", running: true, epoch: 4 }, { containerId: "b", running: true, epoch: 7 }, { containerId: "c", running: true }],
        expected: [{ containerId: "a", epoch: 4 }],
        starting: [],
      }),
    ).toEqual({ kill: ["b", "c"], keep: ["a"] });
  });

  it("kills an older incarnation placed here again under a newer epoch", () => {
    expect(planFence({ local: [{ containerId: "a", running: true, epoch: 4 }], expected: [{ containerId: "a", epoch: 9 }], starting: [] })).toEqual({ kill: ["a"], keep: [] });
  });

  it("leaves a copy that does not run alone (its logs and layer serve `logs` and a later start)", () => {
    expect(planFence({ local: [{ containerId: "x", running: false, epoch: 4 }], expected: [], starting: [] })).toEqual({ kill: [], keep: ["x"] });
  });

  it("keeps a start in progress, and a copy with no epoch recorded that the log places here", () => {
    expect(
      planFence({ local: [{ containerId: "s", running: true, epoch: 1 }, { containerId: "old", running: true }], expected: [{ containerId: "old", epoch: 3 }], starting: ["s"] }),
    ).toEqual({ kill: [], keep: ["s", "old"] });
  });

  it("sorts every local container into exactly one bucket; keeps a running one only when the log places it here or it is starting", () => {
    const ids = fc.constantFrom<string>("a", "b", "c", "d", "e");
    const entry = fc.record({ containerId: ids, epoch: fc.option(fc.nat(5), { nil: undefined }) });
    const local = fc.uniqueArray(fc.record({ containerId: ids, running: fc.boolean(), epoch: fc.option(fc.nat(5), { nil: undefined }) }), { selector: (e) => e.containerId });
    fc.assert(
      fc.property(local, fc.uniqueArray(entry, { selector: (e) => e.containerId }), fc.array(ids), (local, expected, starting) => {
        const plan = planFence({ local, expected, starting });
        expect([...plan.kill, ...plan.keep].sort()).toEqual(local.map((l) => l.containerId).sort());
        for (const id of plan.keep) {
          const l = local.find((x) => x.containerId === id)!;
          if (l.running) expect(starting.includes(id) || expected.some((e) => e.containerId === id)).toBe(true);
        }
        for (const id of plan.kill) expect(local.find((x) => x.containerId === id)!.running).toBe(true);
      }),
    );
  });
});

describe("planSelfFence (--stop-on-disconnect)", () => {
  const running = [{ containerId: "a", stopOnDisconnectMs: 5_000 }, { containerId: "b", stopOnDisconnectMs: 20_000 }, { containerId: "c" }];
  it("stops each container whose limit has passed, once, and never one without a limit", () => {
    expect(planSelfFence({ cutOffForMs: 4_999, running, stoppedAlready: new Set() })).toEqual([]);
    expect(planSelfFence({ cutOffForMs: 5_000, running, stoppedAlready: new Set() })).toEqual(["a"]);
    expect(planSelfFence({ cutOffForMs: 25_000, running, stoppedAlready: new Set(["a"]) })).toEqual(["b"]);
    expect(planSelfFence({ cutOffForMs: 1e9, running, stoppedAlready: new Set(["a", "b"]) })).toEqual([]);
  });
});
