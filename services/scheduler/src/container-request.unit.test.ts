import { describe, expect, it } from "vitest";
import { parseHostConfig } from "@shoal/domain";
import type { ContainerDefinition, HostConfigInput } from "@shoal/domain";
import { defaultDaemonConfig } from "@shoal/config";
import { containerAsk, pinnedHostOf, scheduledReservation } from "./container-request";

const MiB = 1024 * 1024;
const id = "a".repeat(64);
const def = (hostConfig: HostConfigInput): ContainerDefinition => ({
  id,
  name: "c",
  hostConfig: parseHostConfig(hostConfig),
  source: { kind: "rootfs", path: "/r" },
  args: [],
  env: [],
  createdAt: "2026-01-01T00:00:00.000Z",
});
const config = defaultDaemonConfig();

describe("containerAsk", () => {
  it("reserves a private or shareable container's own shm: its size, else the daemon default", () => {
    expect(containerAsk(def({ ipcMode: "private", shmSize: "128m" }), config).reservedBytes).toBe(128 * MiB);
    expect(containerAsk(def({ ipcMode: "shareable" }), { ...config, defaultShmSizeBytes: 32 * MiB }).reservedBytes).toBe(32 * MiB);
  });

  it("applies the daemon's default IPC mode to an empty mode", () => {
    const ask = containerAsk(def({}), { ...config, defaultIpcMode: "shareable" });
    expect(ask.ipcMode).toEqual({ kind: "shareable" });
    expect(ask.reservedBytes).toBe(64 * MiB);
  });

  it("asks for the container's --memory and --cpus besides its shm", () => {
    const ask = containerAsk(def({ ipcMode: "private", shmSize: "64m", memory: "512m", cpus: "1.5" }), config);
    expect(ask).toMatchObject({ memoryBytes: 512 * MiB, nanoCpus: 1_500_000_000, reservedBytes: 576 * MiB, reservedNanoCpus: 1_500_000_000 });
    // A member brings no shm but its own limits.
    expect(containerAsk(def({ ipcMode: "container:db", memory: "128m", cpus: "0.5" }), config)).toMatchObject({
      reservedBytes: 128 * MiB,
      reservedNanoCpus: 500_000_000,
    });
    expect(containerAsk(def({ ipcMode: "none" }), config)).toMatchObject({ reservedBytes: 0, reservedNanoCpus: 0 });
    expect(containerAsk(def({ ipcMode: "none" }), config)).not.toHaveProperty("nanoCpus");
  });

  it("takes a recorded placement's reservation from its event, the ask only for fields it lacks", () => {
    const ask = { reservedBytes: 64 * MiB, reservedNanoCpus: 2_000_000_000 };
    expect(scheduledReservation({ host: "h1", reservedBytes: 32 * MiB, reservedNanoCpus: 0 }, ask)).toEqual({ reservedBytes: 32 * MiB, reservedNanoCpus: 0 });
    expect(scheduledReservation({ host: "h1", reservedBytes: 32 * MiB }, ask)).toEqual({ reservedBytes: 32 * MiB, reservedNanoCpus: 2_000_000_000 });
    expect(scheduledReservation({ host: "h1" }, ask)).toEqual(ask);
  });

  it("reserves no shm for a member (its owner's counts), none or host", () => {
    const member = containerAsk(def({ ipcMode: "container:db" }), config);
    expect(member).toMatchObject({ shmBytes: 0, reservedBytes: 0 });
    expect(containerAsk(def({ ipcMode: "none", shmSize: "1g" }), config).reservedBytes).toBe(0);
    expect(containerAsk(def({ ipcMode: "host" }), config).reservedBytes).toBe(0);
  });

  it("takes a pin only from a non-empty host string", () => {
    expect(pinnedHostOf({ host: "h1" })).toBe("h1");
    expect(pinnedHostOf({ host: "" })).toBeUndefined();
    expect(pinnedHostOf({})).toBeUndefined();
    expect(containerAsk(def({}), config, "h1").pinnedHost).toBe("h1");
  });
});
