import { describe, expect, it } from "vitest";
import { parseCommand } from "./host-commands";

describe("parseCommand", () => {
  it("accepts a StartContainer as the control plane sends it", () => {
    const p = parseCommand("StartContainer", {
      containerId: "a".repeat(64),
      rootfs: { dir: "/rootfs" },
      args: ["sleep", "1"],
      ipcPlan: { mode: "container", ownerId: "b".repeat(64), ownerPid: 12, shmSizeBytes: 1024, shmMountPath: "/s" },
      runtime: { name: "runc", path: "/usr/sbin/runc" },
    });
    expect(p.ipcPlan.mode).toBe("container");
  });

  it("refuses a bad payload with INVALID_ARGUMENT naming the field", () => {
    expect(() => parseCommand("MountShm", { containerId: "a", sizeBytes: -1 })).toThrow(/MountShm: sizeBytes/);
    expect(() => parseCommand("StartContainer", { containerId: "../x" })).toThrow(/containerId/);
    let caught: unknown;
    try {
      parseCommand("StopContainer", {});
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});
