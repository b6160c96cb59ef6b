import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatEventCursor, parseEventCursor } from "./events-cursor";

describe("event cursors", () => {
  it("round-trip every stream sequence", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (seq) => {
      expect(parseEventCursor(formatEventCursor(seq))).toBe(seq);
    }));
  });

  it("refuse anything that is not a cursor this server handed out, with INVALID_ARGUMENT", () => {
    for (const bad of ["", "12", "js:", "js:-1", "js:01", "js:1.5", "pg:12", "js:99999999999999999"]) {
      expect(() => parseEventCursor(bad)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    }
  });
});
