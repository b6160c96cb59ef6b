import { describe, expect, it, vi } from "vitest";
import { createRecentWork } from "./recent-work";

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
