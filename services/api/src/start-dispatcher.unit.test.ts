import { describe, expect, it } from "vitest";
import { createConfigSnapshot, defaultDaemonConfig } from "@shoal/config";
import { InvalidArgumentError, parseHostConfig } from "@shoal/domain";
import type { ContainerDefinition } from "@shoal/domain";
import { startPayload } from "./start-dispatcher";

const id = "a".repeat(64);
const def = (hostConfig: object): ContainerDefinition => ({
  id,
  name: "web",
  hostConfig: parseHostConfig(hostConfig),
  source: { kind: "rootfs", path: "/srv/rootfs" },
  args: ["sh", "-c", "echo hi"],
  env: ["A=1"],
  createdAt: "2026-01-01T00:00:00.000Z",
});
const plan = { mode: "private", shmSizeBytes: 1024 } as const;

describe("startPayload", () => {
  it("carries what the agent needs, with the attempt id and Docker's bind options in the agent's spelling", () => {
    const p = startPayload(
      def({
        readonlyRootfs: true,
        privileged: true,
        securityOpt: ["no-new-privileges"],
        mounts: [
          { type: "bind", source: "/data", target: "/data", readonly: true, readonlyMode: "nonrecursive" },
          { type: "bind", source: "/tmp/x", target: "/x" },
        ],
      }),
      plan,
      createConfigSnapshot(1, defaultDaemonConfig()),
      "attempt-1",
    );
    expect(p).toMatchObject({
      containerId: id,
      rootfs: { dir: "/srv/rootfs" },
      args: ["sh", "-c", "echo hi"],
      env: ["A=1"],
      ipcPlan: plan,
      readonlyRootfs: true,
      privileged: true,
      securityOpt: ["no-new-privileges"],
      mounts: [
        { source: "/data", destination: "/data", readonly: true, readonlyMode: "non-recursive" },
        { source: "/tmp/x", destination: "/x", readonly: false },
      ],
      attemptId: "attempt-1",
      runtime: { name: "runc", args: [] },
    });
    // The built-in runtime is a bare name: the host that runs the container finds it on its own PATH.
    expect(p.runtime.path).toBe("runc");
  });

  it("resolves the runtime from the snapshot it is given: binary and args, the agent writes the wrapper", () => {
    const config = { ...defaultDaemonConfig(), runtimes: { ...defaultDaemonConfig().runtimes, dbg: { path: "/usr/sbin/runc", runtimeArgs: ["--debug"] } }, defaultRuntime: "dbg" };
    const snap = createConfigSnapshot(7, config);
    expect(startPayload(def({}), plan, snap, "a").runtime).toEqual({ name: "dbg", path: "/usr/sbin/runc", args: ["--debug"] });
    expect(startPayload(def({ runtime: "runc" }), plan, snap, "a").runtime.name).toBe("runc");
    expect(() => startPayload(def({ runtime: "kata" }), plan, snap, "a")).toThrow(new InvalidArgumentError("unknown or invalid runtime name: kata"));
  });

  it("passes the working directory only when the container has one", () => {
    const snap = createConfigSnapshot(1, defaultDaemonConfig());
    expect(startPayload(def({}), plan, snap, "a", "/work").cwd).toBe("/work");
    expect("cwd" in startPayload(def({}), plan, snap, "a")).toBe(false);
  });
});
