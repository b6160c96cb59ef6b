import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { InvalidArgumentError } from "@shoal/domain";
import { decodeGlobalCursor, encodeGlobalCursor, globalCursorStart, parseGlobalCursor } from "./global-cursor";

describe("global cursor", () => {
  it("round-trips every transaction id and position the database can hold", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), (tx, pos) => {
        const cursor = encodeGlobalCursor({ transactionId: tx, globalPosition: pos });
        expect(decodeGlobalCursor(cursor)).toEqual({ transactionId: tx, globalPosition: pos });
        expect(parseGlobalCursor(cursor)).toBe(cursor);
      }),
    );
  });

  it("starts before every event", () => {
    expect(decodeGlobalCursor(globalCursorStart)).toEqual({ transactionId: 0n, globalPosition: 0n });
  });

  it("refuses text it did not produce with InvalidArgumentError", () => {
    for (const bad of ["", "12", "1.2.3", "-1.2", "01.2", "1.02", "a.b", " 1.2", `${2n ** 64n}.1`, `1.${2n ** 63n}`]) {
      expect(() => parseGlobalCursor(bad), bad).toThrow(InvalidArgumentError);
    }
  });
});
