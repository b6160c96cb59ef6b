import { describe, expect, it } from "vitest";
import { lastLines } from "./removed-output";

describe("lastLines", () => {
  it("keeps the last N lines, with or without a final newline, and everything for 0", () => {
    const b = (s: string) => Buffer.from(s);
    expect(lastLines(b("a\nb\nc\n"), 2).toString()).toBe("b\nc\n");
    expect(lastLines(b("a\nb\nc"), 2).toString()).toBe("b\nc");
    expect(lastLines(b("a\nb\n"), 5).toString()).toBe("a\nb\n");
    expect(lastLines(b("a\nb\n"), 0).toString()).toBe("a\nb\n");
    expect(lastLines(b(""), 3).toString()).toBe("");
  });
});
