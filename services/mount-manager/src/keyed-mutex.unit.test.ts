import { describe, expect, it } from "vitest";
import { createKeyedMutex } from "./keyed-mutex";

const tick = () => new Promise((r) => setTimeout(r, 1));

describe("createKeyedMutex", () => {
  it("runs tasks of one key one at a time, in call order, and keeps going after a failure", async () => {
    const m = createKeyedMutex();
    const log: string[] = [];
    const task = (name: string, fail = false) => async () => {
      log.push(`start ${name}`);
      await tick();
      log.push(`end ${name}`);
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([m.run("k", task("a")), m.run("k", task("b", true)), m.run("k", task("c"))]);
    expect(log).toEqual(["start a", "end a", "start b", "end b", "start c", "end c"]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
  });

  it("runs tasks of different keys concurrently", async () => {
    const m = createKeyedMutex();
    let release!: () => void;
    const blocked = m.run("a", () => new Promise<void>((r) => (release = r)));
    await expect(m.run("b", async () => "b ran")).resolves.toBe("b ran");
    release();
    await blocked;
  });
});
