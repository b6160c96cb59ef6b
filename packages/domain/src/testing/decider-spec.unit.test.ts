import { AssertionError } from "node:assert";
import { describe, expect, it } from "vitest";
import { DeciderSpecification } from "./decider-spec";
import type { Decider } from "../decider";
import { FailedPreconditionError, InvalidArgumentError, ShoalError } from "../errors";

// A counter that may not go below zero: enough to exercise every branch of the spec.
type E = { type: "Added"; data: { n: number } };
type C = { type: "Add"; data: { n: number } };
const counter: Decider<number, C, E> = {
  initialState: () => 0,
  evolve: (s, e) => s + e.data.n,
  decide: (c, s) => {
    if (!Number.isInteger(c.data.n)) throw new InvalidArgumentError(`not an integer: ${c.data.n}`);
    if (s + c.data.n < 0) throw new FailedPreconditionError(`would go below zero from ${s}`);
    return c.data.n === 0 ? [] : [{ type: "Added", data: { n: c.data.n } }];
  },
};
const spec = DeciderSpecification.for(counter);
const add = (n: number): C => ({ type: "Add", data: { n } });
const added = (n: number): E => ({ type: "Added", data: { n } });

describe("DeciderSpecification", () => {
  it("then passes on the exact events and folds given events first", () => {
    spec.given([added(2)]).when(add(-2)).then([added(-2)]);
  });

  it("then fails on different events, and when decide refuses", () => {
    expect(() => spec.given([]).when(add(1)).then([added(2)])).toThrow(AssertionError);
    expect(() => spec.given([]).when(add(-1)).then([])).toThrow(FailedPreconditionError);
  });

  it("thenNothingHappened passes only on no events", () => {
    spec.given([]).when(add(0)).thenNothingHappened();
    expect(() => spec.given([]).when(add(1)).thenNothingHappened()).toThrow(AssertionError);
  });

  it("thenThrows checks the class and the message (exact string, RegExp or predicate)", () => {
    spec.given([added(1)]).when(add(-2)).thenThrows(FailedPreconditionError, "would go below zero from 1");
    spec.given([added(1)]).when(add(-2)).thenThrows(ShoalError, /below zero/);
    spec.given([added(1)]).when(add(-2)).thenThrows(FailedPreconditionError, (m) => m.endsWith("from 1"));
    spec.given([]).when(add(0.5)).thenThrows(InvalidArgumentError);
  });

  it("thenThrows fails on another class, another message, or no refusal", () => {
    expect(() => spec.given([]).when(add(-1)).thenThrows(InvalidArgumentError)).toThrow(/expected InvalidArgumentError, got FailedPreconditionError/);
    expect(() => spec.given([]).when(add(-1)).thenThrows(FailedPreconditionError, "would go below zero")).toThrow(AssertionError);
    expect(() => spec.given([]).when(add(-1)).thenThrows(FailedPreconditionError, /from 5/)).toThrow(AssertionError);
    expect(() => spec.given([]).when(add(-1)).thenThrows(FailedPreconditionError, () => false)).toThrow(AssertionError);
    expect(() => spec.given([]).when(add(1)).thenThrows(FailedPreconditionError)).toThrow(
      /expected FailedPreconditionError, but decide returned \[\{"type":"Added","data":\{"n":1\}\}\]/,
    );
  });
});
