import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "@shoal/domain";
import { readEnvInteger } from "./env-integer";

describe("readEnvInteger", () => {
  it("reads an integer in range, and the fallback when unset or empty", () => {
    expect(readEnvInteger({ N: "42" }, "N", 7, 0, 100)).toBe(42);
    expect(readEnvInteger({}, "N", 7, 0, 100)).toBe(7);
    expect(readEnvInteger({ N: "" }, "N", 7, 0, 100)).toBe(7);
  });
  it.each(["-1", "101", "1.5", "abc", "1e400"])("refuses %s naming the variable and range", (raw) => {
    expect(() => readEnvInteger({ N: raw }, "N", 7, 0, 100)).toThrow(InvalidArgumentError);
    expect(() => readEnvInteger({ N: raw }, "N", 7, 0, 100)).toThrow(`N must be an integer in 0..100, got ${JSON.stringify(raw)}`);
  });
});
