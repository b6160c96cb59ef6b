import { describe, expect, it } from "vitest";
import { ExitTracker } from "./exit-tracker";

const init = { containerId: "c1", execId: "" };
const at = new Date(1_700_000_000_000);
const notWatched = () => new Error("not watched");

describe("ExitTracker", () => {
  it("keeps an exit that arrives before anyone waits", async () => {
    const t = new ExitTracker();
    t.watch(init, 42);
    expect(t.record(init, 42, { exitStatus: 3, exitedAt: at })).toBe(true);
    await expect(t.wait(init, notWatched)).resolves.toEqual({ exitStatus: 3, exitedAt: at });
  });

  it("resolves every waiter registered before the exit", async () => {
    const t = new ExitTracker();
    t.watch(init, 42);
    const a = t.wait(init, notWatched);
    const b = t.wait(init, notWatched);
    t.record(init, 42, { exitStatus: 0, exitedAt: at });
    await expect(Promise.all([a, b])).resolves.toEqual([
      { exitStatus: 0, exitedAt: at },
      { exitStatus: 0, exitedAt: at },
    ]);
  });

  it("ignores exits of processes it does not watch, so memory stays bounded", () => {
    const t = new ExitTracker();
    expect(t.record({ containerId: "other", execId: "" }, 1, { exitStatus: 1, exitedAt: at })).toBe(false);
    expect(t.unresolved()).toEqual([]);
  });

  it("ignores a late exit of an earlier incarnation with a different pid", () => {
    const t = new ExitTracker();
    t.watch(init, 42);
    expect(t.record(init, 41, { exitStatus: 137, exitedAt: at })).toBe(false);
    expect(t.exitOf(init)).toBeUndefined();
  });

  it("accepts any pid while the pid is unknown (an exec not yet started), and keeps the first exit", () => {
    const t = new ExitTracker();
    const exec = { containerId: "c1", execId: "e1" };
    t.watch(exec, 0);
    expect(t.record(exec, 99, { exitStatus: 7, exitedAt: at })).toBe(true);
    expect(t.record(exec, 99, { exitStatus: 8, exitedAt: at })).toBe(false);
    expect(t.exitOf(exec)?.exitStatus).toBe(7);
  });

  it("lists watched processes without a known exit, for re-checking after a stream gap", () => {
    const t = new ExitTracker();
    t.watch(init, 42);
    t.watch({ containerId: "c1", execId: "e1" }, 50);
    t.record(init, 42, { exitStatus: 0, exitedAt: at });
    expect(t.unresolved()).toEqual([{ containerId: "c1", execId: "e1", pid: 50 }]);
  });

  it("rejects waiting on an unwatched process, and rejects pending waiters on unwatch with a reason", async () => {
    const t = new ExitTracker();
    await expect(t.wait(init, notWatched)).rejects.toThrow("not watched");
    t.watch(init, 42);
    const w = t.wait(init, notWatched);
    t.unwatch(init, new Error("gone"));
    await expect(w).rejects.toThrow("gone");
    expect(t.isWatched(init)).toBe(false);
  });

  it("rejects all pending waiters when the client closes", async () => {
    const t = new ExitTracker();
    t.watch(init, 42);
    const w = t.wait(init, notWatched);
    t.rejectAll(new Error("closed"));
    await expect(w).rejects.toThrow("closed");
  });
});
