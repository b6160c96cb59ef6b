import { describe, expect, it } from "vitest";
import { derivedEventId } from "./derived-id";
import { isUuid } from "./event-envelope";

describe("derivedEventId", () => {
  it("is a stable version-5 UUID per name", () => {
    const a = derivedEventId("report:abc.started.42");
    expect(isUuid(a)).toBe(true);
    expect(a[14]).toBe("5");
    expect("89ab").toContain(a[19]);
    expect(derivedEventId("report:abc.started.42")).toBe(a);
  });
  it("differs for different names", () => {
    const ids = new Set(["a", "b", "scheduled:1", "scheduled:2", ""].map(derivedEventId));
    expect(ids.size).toBe(5);
  });
});
