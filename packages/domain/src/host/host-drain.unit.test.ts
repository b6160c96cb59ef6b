import { describe, expect, it } from "vitest";
import { NotFoundError } from "../errors";
import { decideHostDrain, isDraining } from "./host-events";

const NOW = "2026-12-07T12:00:00.000Z";
const registered = { type: "HostRegistered" };
const drained = { type: "HostDrainRequested" };
const activated = { type: "HostActivated" };

describe("host drain and activate", () => {
  it("drains a registered host once; a repeated drain decides nothing", () => {
    expect(decideHostDrain({ type: "DrainHost", host: "h1", now: NOW }, [registered])).toEqual([
      { type: "HostDrainRequested", data: { host: "h1", requestedAt: NOW } },
    ]);
    expect(decideHostDrain({ type: "DrainHost", host: "h1", now: NOW }, [registered, drained])).toEqual([]);
  });

  it("activates a draining host; activating an active one decides nothing", () => {
    expect(decideHostDrain({ type: "ActivateHost", host: "h1", now: NOW }, [registered, drained])).toEqual([
      { type: "HostActivated", data: { host: "h1", activatedAt: NOW } },
    ]);
    expect(decideHostDrain({ type: "ActivateHost", host: "h1", now: NOW }, [registered])).toEqual([]);
  });

  it("refuses a host that never registered", () => {
    expect(() => decideHostDrain({ type: "DrainHost", host: "nope", now: NOW }, [])).toThrow(new NotFoundError("no such host: nope"));
  });

  it("a drain outlives new registrations and losses, until activated", () => {
    expect(isDraining([registered, drained, { type: "HostLost" }, registered])).toBe(true);
    expect(isDraining([registered, drained, activated, registered])).toBe(false);
  });
});
