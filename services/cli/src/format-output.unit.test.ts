import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { ContainerInfo, HostInfo, ShoalEvent } from "./api-types";
import {
  commandText,
  containerStatusText,
  eventJsonLine,
  formatBytes,
  formatEventLine,
  formatHostsTable,
  hostJsonLine,
  formatInspect,
  formatPsTable,
  formatTopTable,
  formatTable,
  formatTimestamp,
  humanDuration,
  psJsonLine,
  toDockerInspect,
} from "./format-output";

const NOW = new Date("2026-11-23T12:00:00Z");
const ts = (iso: string, nanos = 0) => ({ seconds: String(Date.parse(iso) / 1000), nanos });
const OWNER = "a".repeat(64);
const MEMBER = "b".repeat(64);

function container(overrides: Partial<ContainerInfo> = {}): ContainerInfo {
  return {
    id: MEMBER,
    name: "worker",
    created_at: ts("2026-11-23T11:58:00Z"),
    state: {
      status: "running",
      running: true,
      paused: false,
      oom_killed: false,
      dead: false,
      pid: 4242,
      exit_code: 0,
      error: "",
      started_at: ts("2026-11-23T11:59:00Z", 123456000),
      finished_at: null,
    },
    host_config: {
      ipc_mode: `container:${OWNER}`,
      shm_size: "",
      auto_remove: true,
      runtime: "",
      security_opt: ["no-new-privileges"],
      readonly_rootfs: true,
      mounts: [{ source: "/data", target: "/data", readonly: true, readonly_mode: "" }],
      privileged: false,
      memory: "268435456",
      cpus: "1.5",
      restart_policy: "on-failure:3",
      stop_on_disconnect: "",
    },
    effective_ipc_mode: `container:${OWNER}`,
    effective_shm_size_bytes: "134217728",
    host: "h1",
    ipc_group: {
      owner_id: OWNER,
      member_ids: [MEMBER],
      role: "member",
      shm_size_bytes: "134217728",
      shm_mount_path: `/var/lib/shoal/containers/${OWNER}/mounts/shm`,
    },
    rootfs: "/srv/rootfs/busybox",
    image: "",
    args: ["sh", "-c", "while true; do sleep 1; done"],
    env: ["A=1"],
    runtime: { name: "runc", path: "/usr/bin/runc", args: [] },
    config_version: "3",
    ipc_namespace_inode: "4026532300",
    restart_count: 2,
    ...overrides,
  };
}

describe("inspect", () => {
  it("has docker's fields with docker's types, plus Host and IpcGroup", () => {
    const [out] = JSON.parse(formatInspect([container()])) as Array<Record<string, any>>;
    expect(out).toMatchObject({
      Id: MEMBER,
      Name: "/worker",
      Created: "2026-11-23T11:58:00Z",
      Path: "sh",
      Args: ["-c", "while true; do sleep 1; done"],
      State: {
        Status: "running",
        Running: true,
        Paused: false,
        OOMKilled: false,
        Dead: false,
        Pid: 4242,
        ExitCode: 0,
        Error: "",
        StartedAt: "2026-11-23T11:59:00.123456Z",
        FinishedAt: "0001-01-01T00:00:00Z",
      },
      HostConfig: {
        IpcMode: `container:${OWNER}`,
        ShmSize: 134217728,
        AutoRemove: true,
        Runtime: "runc",
        SecurityOpt: ["no-new-privileges"],
        ReadonlyRootfs: true,
        Binds: ["/data:/data:ro"],
        Memory: 268435456,
        NanoCpus: 1500000000,
        RestartPolicy: { Name: "on-failure", MaximumRetryCount: 3 },
      },
      RestartCount: 2,
      Host: "h1",
      IpcGroup: {
        Owner: OWNER,
        Members: [MEMBER],
        Role: "member",
        ShmSize: 134217728,
        ShmMountPath: `/var/lib/shoal/containers/${OWNER}/mounts/shm`,
      },
    });
    expect(typeof out!.HostConfig.ShmSize).toBe("number");
  });

  it("shows the effective IPC mode (after the daemon default) and docker's nulls for empty lists", () => {
    const c = container({
      effective_ipc_mode: "private",
      host_config: { ...container().host_config!, ipc_mode: "", security_opt: [], mounts: [] },
      ipc_group: null,
    });
    const out = toDockerInspect(c) as Record<string, any>;
    expect(out.HostConfig.IpcMode).toBe("private");
    expect(out.HostConfig.SecurityOpt).toBeNull();
    expect(out.HostConfig.Binds).toBeNull();
    expect(out.IpcGroup).toEqual({ Owner: "", Members: [], Role: "", ShmSize: 0, ShmMountPath: "" });
  });

  it("shows no limits and Docker's `no` policy for a container created without them", () => {
    const c = container({ host_config: { ...container().host_config!, memory: "", cpus: "", restart_policy: "no" }, restart_count: 0 });
    const out = toDockerInspect(c) as Record<string, any>;
    expect(out.HostConfig.Memory).toBe(0);
    expect(out.HostConfig.NanoCpus).toBe(0);
    expect(out.HostConfig.RestartPolicy).toEqual({ Name: "no", MaximumRetryCount: 0 });
    expect(out.RestartCount).toBe(0);
    expect(toDockerInspect(container({ host_config: { ...container().host_config!, cpus: "0.01" } })).HostConfig).toMatchObject({ NanoCpus: 10000000 });
  });

  it("prints an empty array for nothing found, and indents like docker", () => {
    expect(formatInspect([])).toBe("[]\n");
    expect(formatInspect([container()])).toMatch(/^\[\n {4}\{\n {8}"Id"/);
  });
});

describe("timestamps and durations", () => {
  it("prints RFC 3339 with trimmed nanoseconds, and docker's zero time for unset", () => {
    expect(formatTimestamp(ts("2026-11-23T11:59:00Z", 500_000_000))).toBe("2026-11-23T11:59:00.5Z");
    expect(formatTimestamp(ts("2026-11-23T11:59:00Z", 1))).toBe("2026-11-23T11:59:00.000000001Z");
    expect(formatTimestamp(null)).toBe("0001-01-01T00:00:00Z");
    expect(formatTimestamp({ seconds: "0", nanos: 0 })).toBe("0001-01-01T00:00:00Z");
  });

  it.each([
    [400, "Less than a second"],
    [1000, "1 second"],
    [45_000, "45 seconds"],
    [60_000, "About a minute"],
    [5 * 60_000, "5 minutes"],
    [3_600_000, "About an hour"],
    [5 * 3_600_000, "5 hours"],
    [3 * 86_400_000, "3 days"],
    [21 * 86_400_000, "3 weeks"],
    [90 * 86_400_000, "3 months"],
    [3 * 365 * 86_400_000, "3 years"],
  ])("humanDuration(%i) is %s", (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });

  it("formatBytes uses binary units", () => {
    expect(formatBytes(0)).toBe("0B");
    expect(formatBytes(64 * 1024 * 1024)).toBe("64MiB");
    expect(formatBytes(1.5 * 1024 ** 3)).toBe("1.5GiB");
  });
});

describe("ps", () => {
  it("STATUS reads as docker's", () => {
    const state = container().state!;
    expect(containerStatusText(container(), NOW)).toBe("Up About a minute");
    expect(containerStatusText(container({ state: { ...state, status: "paused", paused: true } }), NOW)).toBe("Up About a minute (Paused)");
    expect(
      containerStatusText(container({ state: { ...state, status: "exited", running: false, exit_code: 137, finished_at: ts("2026-11-23T11:59:57Z") } }), NOW),
    ).toBe("Exited (137) 3 seconds ago");
    expect(
      containerStatusText(container({ state: { ...state, status: "restarting", running: true, exit_code: 3, finished_at: ts("2026-11-23T11:59:58Z") } }), NOW),
    ).toBe("Restarting (3) 2 seconds ago");
    expect(containerStatusText(container({ state: { ...state, status: "created", running: false } }), NOW)).toBe("Created");
    expect(containerStatusText(container({ state: { ...state, status: "removing" } }), NOW)).toBe("Removal In Progress");
    expect(containerStatusText(container({ state: { ...state, status: "dead", dead: true } }), NOW)).toBe("Dead");
  });

  it("prints a padded table with short ids, the quoted command cut to 20 characters and names last", () => {
    const table = formatPsTable([container(), container({ id: OWNER, name: "owner", args: ["top"], image: "busybox" })], NOW);
    const lines = table.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^CONTAINER ID {3}IMAGE +COMMAND +CREATED +STATUS +IPC +HOST +NAMES$/);
    expect(lines[1]).toContain(MEMBER.slice(0, 12));
    expect(lines[1]).not.toContain(MEMBER.slice(0, 13));
    expect(lines[1]).toContain(`"sh -c while true; d…"`);
    expect(lines[1]).toContain(` container:${OWNER.slice(0, 12)} `);
    expect(lines[1]).toContain("2 minutes ago");
    expect(lines[1]).toMatch(/worker$/);
    expect(lines[2]).toContain("busybox");
    // Every column starts where its header does.
    for (const header of ["IMAGE", "COMMAND", "STATUS", "NAMES"]) {
      const at = lines[0]!.indexOf(header);
      expect(lines[1]![at - 1]).toBe(" ");
      expect(lines[1]![at]).not.toBe(" ");
    }
  });

  it("--format json prints one object per line with docker's keys, cut as the table is", () => {
    const line = JSON.parse(psJsonLine(container(), NOW)) as Record<string, unknown>;
    expect(line).toEqual({
      ID: MEMBER.slice(0, 12),
      Image: "/srv/rootfs/busybox",
      Command: `"sh -c while true; d…"`,
      CreatedAt: "2026-11-23T11:58:00Z",
      State: "running",
      Status: "Up About a minute",
      Names: "worker",
      IpcMode: `container:${OWNER}`,
      Host: "h1",
    });
  });

  it("--no-trunc shows full ids, commands and joined owners, in the table and in json", () => {
    const c = container();
    const table = formatPsTable([c], NOW, { noTrunc: true });
    expect(table).toContain(MEMBER);
    expect(table).toContain(`"sh -c while true; do sleep 1; done"`);
    expect(table).toContain(`container:${OWNER}`);
    expect(JSON.parse(psJsonLine(c, NOW, { noTrunc: true }))).toMatchObject({ ID: MEMBER, Command: `"sh -c while true; do sleep 1; done"` });
  });

  it("top's table has docker's columns of at least 20 characters", () => {
    expect(formatTopTable(["UID", "PID", "CMD"], [["root", "8819", "sleep 100"]])).toBe(
      `${"UID".padEnd(20)}${"PID".padEnd(20)}CMD\n${"root".padEnd(20)}${"8819".padEnd(20)}sleep 100\n`,
    );
  });

  it("formatTable keeps every row's cells aligned under their headers (property)", () => {
    const cell = fc.string({ minLength: 1, maxLength: 12 }).map((s) => s.replace(/\s/g, "x"));
    fc.assert(
      fc.property(fc.array(fc.tuple(cell, cell, cell), { maxLength: 6 }), (rows) => {
        const lines = formatTable(["A", "BB", "C"], rows).trimEnd().split("\n");
        const starts = [0, lines[0]!.indexOf("BB"), lines[0]!.indexOf("C")];
        rows.forEach((row, r) => {
          row.forEach((value, i) => expect(lines[r + 1]!.slice(starts[i]!, starts[i]! + value.length)).toBe(value));
        });
      }),
    );
  });

  it("commandText quotes short commands whole", () => {
    expect(commandText(["top"])).toBe(`"top"`);
  });
});

describe("events and hosts", () => {
  const event: ShoalEvent = {
    cursor: "1042",
    event_id: "0b9e…",
    type: "ContainerStarted",
    stream_id: `container-${OWNER}`,
    stream_version: "4",
    recorded_at: ts("2026-11-23T11:59:00Z", 250_000_000),
    data_json: '{"pid":42}',
    metadata_json: "",
    schema_version: 1,
  };

  it("one line per event ending with its cursor", () => {
    expect(formatEventLine(event)).toBe(`2026-11-23T11:59:00.25Z ContainerStarted container-${OWNER} (version=4, cursor=1042)`);
    expect(JSON.parse(eventJsonLine(event))).toEqual({
      cursor: "1042",
      id: "0b9e…",
      type: "ContainerStarted",
      streamId: `container-${OWNER}`,
      streamVersion: 4,
      time: "2026-11-23T11:59:00.25Z",
      schemaVersion: 1,
      data: { pid: 42 },
      metadata: null,
    });
  });

  it("hosts table", () => {
    const host: HostInfo = {
      name: "h1",
      status: "ready",
      last_heartbeat: ts("2026-11-23T11:59:58Z"),
      capabilities_json: "{}",
      memory_bytes: String(8 * 1024 ** 3),
      memory_reserved_bytes: String(64 * 1024 ** 2),
      containers: 2,
      nano_cpus: "4000000000",
      nano_cpus_reserved: "1500000000",
    };
    // A host whose agent reported no CPU count, from an api that sends no CPU fields.
    const { nano_cpus: _, nano_cpus_reserved: __, ...old } = host;
    const lines = formatHostsTable([host, { ...old, name: "h2", containers: 0, memory_reserved_bytes: "0" }], NOW).trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME +STATUS +CONTAINERS +CPUS +CPUS RESERVED +MEMORY +MEMORY RESERVED +LAST HEARTBEAT$/);
    expect(lines[1]).toMatch(/^h1 +ready +2 +4 +1\.5 +8GiB +64MiB +2 seconds ago$/);
    expect(lines[2]).toMatch(/^h2 +ready +0 +- +0 +8GiB +0B +2 seconds ago$/);
    expect(JSON.parse(hostJsonLine(host))).toMatchObject({ Name: "h1", NanoCpus: 4e9, NanoCpusReserved: 1.5e9, MemoryBytes: 8 * 1024 ** 3, Containers: 2 });
    expect(JSON.parse(hostJsonLine(old))).toMatchObject({ NanoCpus: 0, NanoCpusReserved: 0 });
  });
});
