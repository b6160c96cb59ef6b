import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, NotFoundError } from "@shoal/domain";
import { normalizeRef, pickContainer } from "./container-ref";

const idA = "a".repeat(64);
const idAb = "ab" + "0".repeat(62);
const idC = "c".repeat(64);

describe("pickContainer", () => {
  const all = [
    { id: idA, name: "web" },
    { id: idAb, name: "db" },
    { id: idC, name: "a" },
  ];

  it("prefers an exact name over an id prefix, as Docker does", () => {
    // "a" is both idA's prefix (ambiguous with idAb) and container c's name.
    expect(pickContainer("a", all).id).toBe(idC);
  });

  it("finds a full id and a unique prefix", () => {
    expect(pickContainer(idA, all).name).toBe("web");
    expect(pickContainer("ab", all).name).toBe("db");
    expect(pickContainer("cc", all).name).toBe("a");
  });

  it("refuses an ambiguous prefix and names the prefix", () => {
    const noNameClash = all.filter((c) => c.name !== "a");
    expect(() => pickContainer("a", noNameClash)).toThrow(new InvalidArgumentError("multiple IDs found with provided prefix: a"));
  });

  it("answers NOT_FOUND with Docker's wording", () => {
    expect(() => pickContainer("nope", all)).toThrow(new NotFoundError("No such container: nope"));
    expect(() => pickContainer("ff", all)).toThrow(NotFoundError);
  });

  it("always returns a candidate that matches by id, name or prefix", () => {
    const hex = fc.stringMatching(/^[0-9a-f]{64}$/);
    fc.assert(
      fc.property(fc.uniqueArray(hex, { minLength: 1, maxLength: 6 }), fc.nat(), fc.integer({ min: 1, max: 64 }), (ids, i, len) => {
        const cands = ids.map((id, n) => ({ id, name: `n${n}` }));
        const target = cands[i % cands.length]!;
        const ref = target.id.slice(0, len);
        try {
          const got = pickContainer(ref, cands);
          expect(got.id.startsWith(ref) || got.name === ref).toBe(true);
          // Unique prefixes always resolve to the one container they name.
          if (cands.filter((c) => c.id.startsWith(ref)).length === 1) expect(got).toBe(target);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidArgumentError);
          expect(cands.filter((c) => c.id.startsWith(ref)).length).toBeGreaterThan(1);
        }
      }),
    );
  });
});

describe("normalizeRef", () => {
  it("strips Docker's leading slash and refuses empty or invalid refs", () => {
    expect(normalizeRef("/web")).toBe("web");
    expect(() => normalizeRef("")).toThrow(InvalidArgumentError);
    expect(() => normalizeRef("bad name")).toThrow("invalid container name or id: bad name");
  });
});
