import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { InvalidArgumentError } from "./errors";
import { cpuQuota, formatCpus, parseCpus, parseMemory } from "./resources";
import { parseHostConfig, stopOnDisconnectRefusal } from "./host-config";

describe("parseMemory (--memory)", () => {
  it.each([
    ["512m", 512 * 1024 ** 2],
    ["1g", 1024 ** 3],
    ["6m", 6 * 1024 ** 2],
    [6291456, 6291456],
    ["0", undefined],
    ["", undefined],
    [undefined, undefined],
  ])("%s is %s bytes", (input, bytes) => {
    expect(parseMemory(input)).toBe(bytes);
  });

  it.each(["-1", "abc", "1x", "1.5", "-512m", "5m", "1k"])("refuses %s", (input) => {
    expect(() => parseMemory(input)).toThrow(InvalidArgumentError);
  });

  it("says Docker's minimum", () => {
    expect(() => parseMemory("4m")).toThrow("Minimum memory limit allowed is 6MB");
  });
});

describe("parseCpus (--cpus)", () => {
  it.each([
    ["1.5", 1_500_000_000],
    ["2", 2_000_000_000],
    ["0.01", 10_000_000],
    [0.5, 500_000_000],
    ["0", undefined],
    ["0.0", undefined],
    ["", undefined],
  ])("%s is %s nano-CPUs", (input, nano) => {
    expect(parseCpus(input)).toBe(nano);
  });

  it.each(["-1", "abc", "1e3", "0.001", "1.0000000001", ".5", "1.", " 1", "NaN", "Infinity"])("refuses %s", (input) => {
    expect(() => parseCpus(input)).toThrow(InvalidArgumentError);
  });

  it("formats back to the text it parsed, for any count of hundredths", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (hundredths) => {
        const nano = parseCpus((hundredths / 100).toFixed(2))!;
        expect(nano).toBe(hundredths * 10_000_000);
        expect(parseCpus(formatCpus(nano))).toBe(nano);
      }),
    );
  });

  it("maps to a CFS quota over Docker's 100 ms period", () => {
    expect(cpuQuota(1_500_000_000)).toEqual({ quotaMicros: 150_000, periodMicros: 100_000 });
    expect(cpuQuota(10_000_000)).toEqual({ quotaMicros: 1_000, periodMicros: 100_000 });
  });
});

describe("host config resources and restart policy", () => {
  it("parses --memory, --cpus and --restart into the stored config", () => {
    const hc = parseHostConfig({ memory: "256m", cpus: "0.5", restart: "on-failure:3" });
    expect(hc.memory).toBe(256 * 1024 ** 2);
    expect(hc.nanoCpus).toBe(500_000_000);
    expect(hc.restartPolicy).toEqual({ name: "on-failure", maximumRetryCount: 3 });
  });

  it("leaves unset values absent (restart `no` included)", () => {
    const hc = parseHostConfig({ memory: "0", cpus: "", restart: "no" });
    expect("memory" in hc || "nanoCpus" in hc || "restartPolicy" in hc).toBe(false);
  });

  it("names every bad field at once", () => {
    expect(() => parseHostConfig({ memory: "-1", cpus: "x", restart: "sometimes" })).toThrow(
      "invalid host config: memory: invalid memory limit: -1; cpus: invalid cpus: x: must be a decimal number of CPUs, such as 1.5; restart: invalid restart policy 'sometimes'",
    );
  });

  it("--stop-on-disconnect is a duration, and must be shorter than the heartbeat timeout", () => {
    expect(parseHostConfig({ stopOnDisconnect: "1m30s" }).stopOnDisconnectMs).toBe(90_000);
    expect("stopOnDisconnectMs" in parseHostConfig({ stopOnDisconnect: "" })).toBe(false);
    expect(() => parseHostConfig({ stopOnDisconnect: "soon" })).toThrow("invalid host config: stopOnDisconnect: invalid duration");
    expect(() => parseHostConfig({ stopOnDisconnect: "-5s" })).toThrow(InvalidArgumentError);
    expect(stopOnDisconnectRefusal(10_000, 30_000)).toBeUndefined();
    expect(stopOnDisconnectRefusal(undefined, 30_000)).toBeUndefined();
    expect(stopOnDisconnectRefusal(30_000, 30_000)?.message).toBe(
      "--stop-on-disconnect 30s must be shorter than the heartbeat timeout (30s): the host must stop the container before the control plane gives up on the host",
    );
  });

  it("refuses --restart with --rm, as Docker does", () => {
    expect(() => parseHostConfig({ restart: "always", autoRemove: true })).toThrow("conflicting options: cannot specify both --restart and --rm");
    expect(parseHostConfig({ restart: "no", autoRemove: true }).autoRemove).toBe(true);
  });
});
