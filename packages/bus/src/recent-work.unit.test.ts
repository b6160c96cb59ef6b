import { describe, expect, it, vi } from "vitest";
import { createKeptForOnce, createRecentWork } from "./recent-work";

describe("recent work", () => {
  it("runs a key's work once while it runs and while it is kept, then forgets it", async () => {
    vi.useFakeTimers();
    try {
      const work = createRecentWork<number>(1_000);
      const start = vi.fn(async () => 7);
      const first = work.once("a", start);
      expect(work.once("a", start)).toBe(first);
      expect(await first).toBe(7);
      expect(work.get("a")).toBe(first);
      await work.once("a", start);
      expect(start).toHaveBeenCalledTimes(1);
      vi.advanceTimersByTime(1_000);
      expect(work.get("a")).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });

  it("drops a key whose work failed, so a retry runs it again", async () => {
    const work = createRecentWork<void>(60_000);
    await expect(work.once("a", async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(work.get("a")).toBeUndefined();
    const again = vi.fn(async () => undefined);
    await work.once("a", again);
    expect(again).toHaveBeenCalledTimes(1);
  });
});

describe("kept for once", () => {
  it("gives a key's value to the first take only, and forgets an untaken one after the keep time", () => {
    vi.useFakeTimers();
    try {
      const kept = createKeptForOnce<number>(1_000);
      kept.put("a", 1);
      kept.put("b", 2);
      expect(kept.take("a")).toBe(1);
      expect(kept.take("a")).toBeUndefined();
      vi.advanceTimersByTime(999);
      kept.put("b", 3); // put again: kept a full time from now
      vi.advanceTimersByTime(1);
      expect(kept.take("b")).toBe(3);
      kept.put("c", 4);
      vi.advanceTimersByTime(1_000);
      expect(kept.take("c")).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });
});
