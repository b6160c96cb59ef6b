import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "@shoal/domain";
import { readApiConfig } from "./config";

describe("readApiConfig", () => {
  it("defaults to the local stack", () => {
    expect(readApiConfig({})).toEqual({
      databaseUrl: "postgres://postgres@127.0.0.1:5432/shoal",
      natsUrl: "nats://127.0.0.1:4222",
      prefix: "shoal",
      apiAddr: "127.0.0.1:7420",
      metricsPort: 9420,
      protoDir: "",
      logLevel: "info",
    });
  });

  it("reads every variable and names a malformed one", () => {
    const c = readApiConfig({ SHOAL_API_ADDR: "0.0.0.0:1", SHOAL_METRICS_PORT: "0", SHOAL_SUBJECT_PREFIX: "t1", SHOAL_PROTO_DIR: "/p" });
    expect(c).toMatchObject({ apiAddr: "0.0.0.0:1", metricsPort: 0, prefix: "t1", protoDir: "/p" });
    expect(() => readApiConfig({ SHOAL_METRICS_PORT: "http" })).toThrow(InvalidArgumentError);
    expect(() => readApiConfig({ SHOAL_API_ADDR: "localhost" })).toThrow("SHOAL_API_ADDR must be host:port, got localhost");
  });
});
