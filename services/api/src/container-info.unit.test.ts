import { describe, expect, it } from "vitest";
import { defaultDaemonConfig } from "@shoal/config";
import { DEFAULT_SHM_SIZE_BYTES, parseHostConfig } from "@shoal/domain";
import { containerInfoToProto } from "./container-info";
import type { ContainerRow } from "./container-queries";

const id = "b".repeat(64);
const owner = "c".repeat(64);
const row = (over: Partial<ContainerRow>): ContainerRow => ({
  id,
  name: "web",
  status: "created",
  host: null,
  pid: null,
  exitCode: null,
  error: null,
  oomKilled: false,
  restartCount: 0,
  createdAt: new Date("2026-01-01T00:00:01.500Z"),
  startedAt: null,
  finishedAt: null,
  hostConfig: parseHostConfig({}),
  source: { kind: "rootfs", path: "/srv/r" },
  args: ["true"],
  env: [],
  ipcPlan: null,
  runtime: null,
  configVersion: null,
  ipcNamespaceInode: null,
  ipcOwnerId: null,
  run: null,
  cwd: null,
  ...over,
});

describe("containerInfoToProto", () => {
  it("shows the daemon default mode and size before a start resolved them", () => {
    const shareableDefault = { ...defaultDaemonConfig(), defaultIpcMode: "shareable" as const, defaultShmSizeBytes: 128 * 1024 * 1024 };
    const info = containerInfoToProto(row({}), [], shareableDefault);
    expect(info).toMatchObject({
      effectiveIpcMode: "shareable",
      effectiveShmSizeBytes: String(128 * 1024 * 1024),
      hostConfig: { ipcMode: "", shmSize: "" },
      state: { status: "created", running: false },
      createdAt: { seconds: Date.parse("2026-01-01T00:00:01Z") / 1000, nanos: 500_000_000 },
      rootfs: "/srv/r",
      runtime: null,
    });
    expect(containerInfoToProto(row({ hostConfig: parseHostConfig({ ipcMode: "none" }) }), [], defaultDaemonConfig()).effectiveShmSizeBytes).toBe("0");
  });

  it("shows a member's group from its IPC plan, and a running container's process", () => {
    const info = containerInfoToProto(
      row({
        status: "running",
        pid: 42,
        host: "h1",
        hostConfig: parseHostConfig({ ipcMode: "container:db" }),
        ipcPlan: { mode: "container", ownerId: owner, ownerPid: 7, shmSizeBytes: DEFAULT_SHM_SIZE_BYTES, shmMountPath: "/s/shm" },
        ipcOwnerId: owner,
        runtime: { name: "runc", path: "/usr/sbin/runc", args: [] },
        configVersion: 3,
      }),
      [],
      defaultDaemonConfig(),
    );
    expect(info).toMatchObject({
      effectiveIpcMode: `container:${owner}`,
      effectiveShmSizeBytes: String(DEFAULT_SHM_SIZE_BYTES),
      hostConfig: { ipcMode: "container:db" },
      ipcGroup: { role: "member", ownerId: owner, shmMountPath: "/s/shm", memberIds: [] },
      state: { status: "running", running: true, pid: 42 },
      configVersion: "3",
      host: "h1",
    });
  });

  it("reports a failed start as exited with its code and reason, and no pid", () => {
    const info = containerInfoToProto(row({ status: "start-failed", pid: 9, exitCode: 127, error: "not found" }), [], defaultDaemonConfig());
    expect(info.state).toMatchObject({ status: "exited", running: false, pid: 0, exitCode: 127, error: "not found" });
  });
});
