import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "@shoal/domain";
import { readMountManagerConfig } from "./config";

describe("readMountManagerConfig", () => {
  it("has the documented defaults", () => {
    expect(readMountManagerConfig({})).toEqual({
      databaseUrl: "postgres://postgres@127.0.0.1:5432/shoal",
      natsUrl: "nats://127.0.0.1:4222",
      subjectPrefix: "shoal",
      metricsPort: 9422,
      reconcileIntervalMs: 60_000,
      hostCommandTimeoutMs: 5_000,
      ackWaitMs: 15_000,
      logLevel: "info",
    });
  });

  it("reads every variable", () => {
    const c = readMountManagerConfig({
      SHOAL_DATABASE_URL: "postgres://x@db/s",
      SHOAL_NATS_URL: "nats://n:1",
      SHOAL_SUBJECT_PREFIX: "p",
      SHOAL_METRICS_PORT: "0",
      SHOAL_RECONCILE_INTERVAL_MS: "0",
      SHOAL_HOST_COMMAND_TIMEOUT_MS: "500",
      SHOAL_CONSUMER_ACK_WAIT_MS: "2000",
      SHOAL_LOG_LEVEL: "debug",
    });
    expect(c).toEqual({
      databaseUrl: "postgres://x@db/s",
      natsUrl: "nats://n:1",
      subjectPrefix: "p",
      metricsPort: 0,
      reconcileIntervalMs: 0,
      hostCommandTimeoutMs: 500,
      ackWaitMs: 2000,
      logLevel: "debug",
    });
  });

  it("names the variable that is malformed", () => {
    expect(() => readMountManagerConfig({ SHOAL_METRICS_PORT: "http" })).toThrow(InvalidArgumentError);
    expect(() => readMountManagerConfig({ SHOAL_METRICS_PORT: "70000" })).toThrow(/SHOAL_METRICS_PORT/);
    expect(() => readMountManagerConfig({ SHOAL_HOST_COMMAND_TIMEOUT_MS: "0" })).toThrow(/SHOAL_HOST_COMMAND_TIMEOUT_MS/);
    expect(() => readMountManagerConfig({ SHOAL_LOG_LEVEL: "loud" })).toThrow(/SHOAL_LOG_LEVEL/);
  });
});
