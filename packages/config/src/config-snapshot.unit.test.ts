import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { InvalidArgumentError } from "@shoal/domain";
import { createConfigHolder, createConfigSnapshot } from "./config-snapshot";
import type { ConfigSnapshot } from "./config-snapshot";
import { applyConfigSet, defaultDaemonConfig, parseDaemonConfig } from "./daemon-config";

const withRuntime = parseDaemonConfig({ runtimes: { kata: { path: "/usr/bin/kata", runtimeArgs: ["--x"] } } });

describe("createConfigSnapshot", () => {
  it("is deeply frozen: writes anywhere inside throw and change nothing", () => {
    const snap = createConfigSnapshot(3, withRuntime);
    const mutations: Array<() => void> = [
      () => ((snap as { version: number }).version = 4),
      () => ((snap.config as { experimental: boolean }).experimental = true),
      () => ((snap.config.runtimes as Record<string, unknown>)["evil"] = { path: "/evil", runtimeArgs: [] }),
      () => (snap.config.runtimes["kata"]!.runtimeArgs as string[]).push("--y"),
      () => (snap.config.allowedRootfsRoots as string[]).push("/"),
    ];
    for (const mutate of mutations) expect(mutate).toThrow(TypeError);
    expect(snap.version).toBe(3);
    expect(snap.config).toEqual(withRuntime);
  });

  it("keeps a private copy: changing the source object afterwards does not leak in", () => {
    const source = structuredClone(withRuntime) as unknown as { runtimes: Record<string, { runtimeArgs: string[] }> };
    const snap = createConfigSnapshot(1, source as never);
    source.runtimes["kata"]!.runtimeArgs.push("--later");
    expect(snap.config.runtimes["kata"]!.runtimeArgs).toEqual(["--x"]);
  });

  it("refuses versions that are not non-negative integers", () => {
    for (const v of [-1, 1.5, Number.NaN, 2 ** 60]) {
      expect(() => createConfigSnapshot(v, defaultDaemonConfig())).toThrow(InvalidArgumentError);
    }
  });
});

describe("createConfigHolder", () => {
  it("swaps to a newer version, tells listeners with both snapshots, and reports the previous one", () => {
    const v0 = createConfigSnapshot(0, defaultDaemonConfig());
    const holder = createConfigHolder(v0);
    const seen: Array<[number, number]> = [];
    holder.onChange((next, prev) => seen.push([next.version, prev.version]));
    const v1 = createConfigSnapshot(1, applyConfigSet(defaultDaemonConfig(), ["experimental=true"]));
    const result = holder.swap(v1);
    expect(result).toEqual({ swapped: true, previous: v0, listenerErrors: [] });
    expect(holder.current()).toBe(v1);
    expect(seen).toEqual([[1, 0]]);
  });

  it("ignores and reports an older or equal version without telling listeners", () => {
    const holder = createConfigHolder(createConfigSnapshot(5, defaultDaemonConfig()));
    let calls = 0;
    holder.onChange(() => calls++);
    const before = holder.current();
    for (const v of [5, 4, 0]) {
      const result = holder.swap(createConfigSnapshot(v, withRuntime));
      expect(result).toEqual({ swapped: false, current: before, reason: "stale" });
    }
    expect(holder.current()).toBe(before);
    expect(calls).toBe(0);
  });

  it("an operation that read its snapshot once keeps seeing it across a swap", () => {
    const holder = createConfigHolder(createConfigSnapshot(0, defaultDaemonConfig()));
    const mine = holder.current();
    holder.swap(createConfigSnapshot(1, withRuntime));
    expect(mine.version).toBe(0);
    expect(Object.keys(mine.config.runtimes)).toEqual(["runc"]);
    expect(Object.keys(holder.current().config.runtimes)).toEqual(["kata", "runc"]);
  });

  it("freezes a hand-made snapshot it is given", () => {
    const handMade: ConfigSnapshot = { version: 2, config: structuredClone(withRuntime) };
    const holder = createConfigHolder(createConfigSnapshot(1, defaultDaemonConfig()));
    holder.swap(handMade);
    expect(Object.isFrozen(holder.current().config.runtimes["kata"]!.runtimeArgs)).toBe(true);
    expect(Object.isFrozen(handMade.config)).toBe(false);
  });

  it("a throwing listener neither undoes the swap nor stops the others; its error is returned", () => {
    const holder = createConfigHolder(createConfigSnapshot(0, defaultDaemonConfig()));
    const boom = new Error("listener failed");
    const order: string[] = [];
    holder.onChange(() => {
      order.push("a");
      throw boom;
    });
    holder.onChange(() => order.push("b"));
    const result = holder.swap(createConfigSnapshot(1, withRuntime));
    expect(result.swapped && result.listenerErrors).toEqual([boom]);
    expect(order).toEqual(["a", "b"]);
    expect(holder.current().version).toBe(1);
  });

  it("an unsubscribed listener is not called again", () => {
    const holder = createConfigHolder(createConfigSnapshot(0, defaultDaemonConfig()));
    let calls = 0;
    const off = holder.onChange(() => calls++);
    holder.swap(createConfigSnapshot(1, defaultDaemonConfig()));
    off();
    holder.swap(createConfigSnapshot(2, defaultDaemonConfig()));
    expect(calls).toBe(1);
  });

  it("whatever order versions arrive in, the holder ends at the highest and never goes back", () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 50 }), { maxLength: 30 }), (versions) => {
        const holder = createConfigHolder(createConfigSnapshot(0, defaultDaemonConfig()));
        let last = 0;
        for (const v of versions) {
          holder.swap(createConfigSnapshot(v, defaultDaemonConfig()));
          expect(holder.current().version).toBeGreaterThanOrEqual(last);
          last = holder.current().version;
        }
        expect(holder.current().version).toBe(Math.max(0, ...versions));
      }),
    );
  });
});
