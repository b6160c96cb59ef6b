import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decideRestart, formatRestartPolicy, parseRestartPolicy } from "./restart-policy";
import type { RestartInput } from "./restart-policy";

describe("parseRestartPolicy (--restart)", () => {
  it.each([
    ["", { name: "no", maximumRetryCount: 0 }],
    ["no", { name: "no", maximumRetryCount: 0 }],
    ["always", { name: "always", maximumRetryCount: 0 }],
    ["unless-stopped", { name: "unless-stopped", maximumRetryCount: 0 }],
    ["on-failure", { name: "on-failure", maximumRetryCount: 0 }],
    ["on-failure:5", { name: "on-failure", maximumRetryCount: 5 }],
    ["always:0", { name: "always", maximumRetryCount: 0 }],
  ])("%j", (text, policy) => {
    expect(parseRestartPolicy(text)).toEqual(policy);
  });

  it.each([
    ["sometimes", "invalid restart policy 'sometimes'"],
    ["on-failure:x", "invalid restart policy format: maximum retry count must be an integer"],
    ["on-failure:-1", "maximum retry count cannot be negative"],
    ["always:3", "maximum retry count cannot be used with restart policy 'always'"],
    ["on-failure:1:2", "invalid restart policy format"],
  ])("refuses %j with Docker's message", (text, message) => {
    expect(() => parseRestartPolicy(text)).toThrow(message);
  });

  it("formats back to the text it parsed", () => {
    for (const t of ["always", "unless-stopped", "on-failure", "on-failure:2", "no"]) {
      expect(formatRestartPolicy(parseRestartPolicy(t))).toBe(t);
    }
  });
});

const base: RestartInput = {
  policy: { name: "always", maximumRetryCount: 0 },
  exitCode: 0,
  restartCount: 0,
  manuallyStopped: false,
  ranForMs: 50,
  previousDelayMs: 0,
};

describe("decideRestart", () => {
  it("restarts always and unless-stopped whatever the exit code; never with no", () => {
    expect(decideRestart({ ...base, exitCode: 0 })).toEqual({ restart: true, delayMs: 100 });
    expect(decideRestart({ ...base, policy: { name: "unless-stopped", maximumRetryCount: 0 }, exitCode: 3 })).toEqual({ restart: true, delayMs: 100 });
    expect(decideRestart({ ...base, policy: { name: "no", maximumRetryCount: 0 }, exitCode: 1 })).toEqual({ restart: false });
  });

  it("restarts on-failure only after a non-zero exit, at most N times", () => {
    const policy = { name: "on-failure" as const, maximumRetryCount: 2 };
    expect(decideRestart({ ...base, policy, exitCode: 0 })).toEqual({ restart: false });
    expect(decideRestart({ ...base, policy, exitCode: 1, restartCount: 1 }).restart).toBe(true);
    expect(decideRestart({ ...base, policy, exitCode: 1, restartCount: 2 })).toEqual({ restart: false });
    expect(decideRestart({ ...base, policy: { name: "on-failure", maximumRetryCount: 0 }, exitCode: 1, restartCount: 1000 }).restart).toBe(true);
  });

  it("never restarts what a user stopped", () => {
    for (const name of ["always", "unless-stopped", "on-failure"] as const) {
      expect(decideRestart({ ...base, policy: { name, maximumRetryCount: 0 }, exitCode: 137, manuallyStopped: true })).toEqual({ restart: false });
    }
  });

  it("doubles the wait from 100 ms up to a minute, and resets it after 10 s of running", () => {
    const delays: number[] = [];
    let previous = 0;
    for (let i = 0; i < 12; i++) {
      const d = decideRestart({ ...base, previousDelayMs: previous });
      if (!d.restart) throw new Error("expected a restart");
      delays.push(d.delayMs);
      previous = d.delayMs;
    }
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]);
    expect(decideRestart({ ...base, previousDelayMs: 60_000, ranForMs: 10_000 })).toEqual({ restart: true, delayMs: 100 });
    expect(decideRestart({ ...base, previousDelayMs: 60_000, ranForMs: 9_999 })).toEqual({ restart: true, delayMs: 60_000 });
  });

  it("waits between 100 ms and a minute, for any history", () => {
    fc.assert(
      fc.property(fc.nat({ max: 120_000 }), fc.nat({ max: 100_000 }), (previousDelayMs, ranForMs) => {
        const d = decideRestart({ ...base, previousDelayMs, ranForMs });
        expect(d.restart).toBe(true);
        if (d.restart) expect(d.delayMs >= 100 && d.delayMs <= 60_000).toBe(true);
      }),
    );
  });
});
