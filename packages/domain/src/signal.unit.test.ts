import { describe, expect, it } from "vitest";
import { DEFAULT_KILL_SIGNAL, parseSignal } from "./signal";
import { InvalidArgumentError } from "./errors";

describe("parseSignal", () => {
  it.each<[string | number, number]>([
    ["", 9],
    ["KILL", 9],
    ["SIGKILL", 9],
    ["sigkill", 9],
    ["Term", 15],
    ["HUP", 1],
    ["USR1", 10],
    ["SIGWINCH", 28],
    ["RTMIN", 34],
    ["RTMIN+1", 35],
    ["SIGRTMAX-1", 63],
    ["RTMAX", 64],
    [9, 9],
    ["64", 64],
    [1, 1],
  ])("%j → %d", (s, n) => {
    expect(parseSignal(s)).toBe(n);
  });

  it.each<string | number>([0, "0", 65, -9, 1.5, "SIGFOO", "KILL ", "RTMIN+31", "RTMAX-31", "RTMIN+0", "9x"])("refuses %j", (s) => {
    expect(() => parseSignal(s)).toThrow(new InvalidArgumentError(`invalid signal: ${s}`));
    expect(() => parseSignal(s)).toThrow(InvalidArgumentError);
  });

  it("kill's default is SIGKILL", () => {
    expect(DEFAULT_KILL_SIGNAL).toBe(9);
  });
});
