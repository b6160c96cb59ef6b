import { describe, expect, it } from "vitest";
import { readAgentConfig } from "./config";

describe("readAgentConfig", () => {
  it("applies the documented defaults", () => {
    const c = readAgentConfig({ SHOAL_HOST: "node-1" });
    expect(c).toEqual({
      host: "node-1",
      natsUrl: "nats://127.0.0.1:4222",
      subjectPrefix: "shoal",
      containerdSocket: "/run/containerd/containerd.sock",
      stateRoot: "/var/lib/shoal",
      runDir: "/run/shoal/node-1",
      metricsPort: 9423,
      heartbeatIntervalMs: 5000,
      capacity: {},
    });
  });

  it("takes capacity overrides as --memory and --cpus take them", () => {
    expect(readAgentConfig({ SHOAL_HOST: "h", SHOAL_HOST_MEMORY: "512m", SHOAL_HOST_CPUS: "1.5" }).capacity).toEqual({
      memoryBytes: 512 * 1024 * 1024,
      nanoCpus: 1_500_000_000,
    });
    expect(readAgentConfig({ SHOAL_HOST: "h", SHOAL_HOST_MEMORY: "1073741824" }).capacity).toEqual({ memoryBytes: 1024 ** 3 });
    expect(() => readAgentConfig({ SHOAL_HOST: "h", SHOAL_HOST_MEMORY: "lots" })).toThrow('SHOAL_HOST_MEMORY "lots": invalid memory limit: lots');
    expect(() => readAgentConfig({ SHOAL_HOST: "h", SHOAL_HOST_MEMORY: "0" })).toThrow('SHOAL_HOST_MEMORY "0" must be more than 0');
    expect(() => readAgentConfig({ SHOAL_HOST: "h", SHOAL_HOST_CPUS: "-1" })).toThrow(/^SHOAL_HOST_CPUS "-1": invalid cpus/);
  });

  it("refuses values that would break subjects, paths or sockets, naming the variable", () => {
    expect(() => readAgentConfig({ SHOAL_HOST: "a.b" })).toThrow(/SHOAL_HOST/);
    expect(() => readAgentConfig({ SHOAL_HOST: "h", SHOAL_STATE_ROOT: "relative" })).toThrow(/SHOAL_STATE_ROOT/);
    expect(() => readAgentConfig({ SHOAL_HOST: "h", SHOAL_RUN_DIR: `/run/${"x".repeat(80)}` })).toThrow(/SHOAL_RUN_DIR/);
    expect(() => readAgentConfig({ SHOAL_HOST: "h", SHOAL_METRICS_PORT: "70000" })).toThrow(/SHOAL_METRICS_PORT/);
  });
});
