import { describe, expect, it } from "vitest";
import { hostConfigSchema, parseHostConfig } from "./host-config";
import type { HostConfig } from "./host-config";
import { InvalidArgumentError } from "./errors";

const DEFAULTS: HostConfig = {
  ipcMode: { kind: "default" },
  autoRemove: false,
  securityOpt: [],
  readonlyRootfs: false,
  mounts: [],
  privileged: false,
};

describe("parseHostConfig accepts", () => {
  it.each<[string, unknown, HostConfig]>([
    ["nothing", undefined, DEFAULTS],
    ["an empty object", {}, DEFAULTS],
    ["an IPC mode", { ipcMode: "shareable" }, { ...DEFAULTS, ipcMode: { kind: "shareable" } }],
    ["a member", { ipcMode: "container:db" }, { ...DEFAULTS, ipcMode: { kind: "container", ref: "db" } }],
    ["a size string", { shmSize: "128m" }, { ...DEFAULTS, shmSize: 128 * 1024 * 1024 }],
    ["a size in bytes", { shmSize: 4096 }, { ...DEFAULTS, shmSize: 4096 }],
    ["size 0 as the default", { shmSize: 0 }, DEFAULTS],
    [
      "everything",
      {
        ipcMode: "private",
        shmSize: "1g",
        autoRemove: true,
        runtime: "io.containerd.runc.v2",
        securityOpt: ["no-new-privileges", "apparmor=unconfined"],
        readonlyRootfs: true,
        mounts: [
          { type: "bind", source: "/srv/data", target: "/data" },
          { type: "bind", source: "/etc/hosts", target: "/etc/hosts", readonly: true },
          { type: "bind", source: "/mnt", target: "/mnt", readonly: true, readonlyMode: "recursive" },
          { type: "bind", source: "/opt", target: "/opt", readonly: true, readonlyMode: "nonrecursive" },
        ],
        privileged: true,
      },
      {
        ipcMode: { kind: "private" },
        shmSize: 1024 ** 3,
        autoRemove: true,
        runtime: "io.containerd.runc.v2",
        securityOpt: ["no-new-privileges", "apparmor=unconfined"],
        readonlyRootfs: true,
        mounts: [
          { type: "bind", source: "/srv/data", target: "/data", readonly: false },
          { type: "bind", source: "/etc/hosts", target: "/etc/hosts", readonly: true },
          { type: "bind", source: "/mnt", target: "/mnt", readonly: true, readonlyMode: "recursive" },
          { type: "bind", source: "/opt", target: "/opt", readonly: true, readonlyMode: "nonrecursive" },
        ],
        privileged: true,
      },
    ],
  ])("%s", (_, input, expected) => {
    const parsed = parseHostConfig(input);
    expect(parsed).toStrictEqual(expected);
    // Stored as JSON on ContainerCreated: it must survive a round trip unchanged.
    expect(JSON.parse(JSON.stringify(parsed))).toStrictEqual(parsed);
  });

  it("the schema parses the same way", () => {
    expect(hostConfigSchema.parse({ ipcMode: "host" })).toStrictEqual({ ...DEFAULTS, ipcMode: { kind: "host" } });
  });
});

describe("parseHostConfig refuses", () => {
  it.each<[string, unknown, string]>([
    ["a non-object", 5, "expected object, got number"],
    ["an array", [], "expected object, got array"],
    ["an unknown key", { ipc: "host" }, 'ipc: unknown field'],
    ["several unknown keys", { a: 1, b: 2 }, "a: unknown field; b: unknown field"],
    ["a bad IPC mode", { ipcMode: "bogus" }, "ipcMode: invalid IPC mode: bogus"],
    ["an empty container ref", { ipcMode: "container:" }, "ipcMode: invalid IPC mode: container:"],
    ["a non-string IPC mode", { ipcMode: 1 }, "ipcMode: expected string, got number"],
    ["a bad shm size", { shmSize: "64x" }, "shmSize: invalid shm size: 64x"],
    ["a negative shm size", { shmSize: -1 }, "shmSize: invalid shm size: -1"],
    ["a boolean shm size", { shmSize: true }, "shmSize: expected a number or a size string, got boolean"],
    [
      "a size on a member",
      { ipcMode: "container:db", shmSize: "64m" },
      "shmSize: shm size cannot be set for a container that joins another's IPC namespace (container:db)",
    ],
    ["a size with host", { ipcMode: "host", shmSize: 1 }, "shmSize: shm size cannot be set with IPC mode host: the host's /dev/shm is used"],
    ["a non-boolean autoRemove", { autoRemove: "yes" }, "autoRemove: expected boolean, got string"],
    ["a non-boolean privileged", { privileged: 1 }, "privileged: expected boolean, got number"],
    ["a non-boolean readonlyRootfs", { readonlyRootfs: null }, "readonlyRootfs: expected boolean, got null"],
    ["an empty runtime", { runtime: "" }, "runtime: invalid runtime name"],
    ["a runtime with a slash", { runtime: "/usr/bin/runc" }, "runtime: invalid runtime name"],
    [
      "a bad security option",
      { securityOpt: ["no-new-privileges", "seccomp"] },
      'securityOpt[1]: invalid security option "seccomp": want key=value with key one of apparmor, seccomp, label, no-new-privileges, systempaths, writable-cgroups, or the bare flag no-new-privileges',
    ],
    ["securityOpt not a list", { securityOpt: "apparmor=x" }, "securityOpt: expected array, got string"],
    ["a relative source", { mounts: [{ type: "bind", source: "data", target: "/data" }] }, "mounts[0].source: must be an absolute path"],
    ["a relative target", { mounts: [{ type: "bind", source: "/data", target: "data" }] }, "mounts[0].target: must be an absolute path"],
    ["a bind onto /", { mounts: [{ type: "bind", source: "/data", target: "/" }] }, "mounts[0].target: cannot be /"],
    ["a missing source", { mounts: [{ type: "bind", target: "/data" }] }, "mounts[0].source: expected string, got undefined"],
    ["a volume mount", { mounts: [{ type: "volume", source: "/a", target: "/b" }] }, 'mounts[0].type: expected one of "bind"'],
    ["an unknown mount key", { mounts: [{ type: "bind", source: "/a", target: "/b", propagation: "rshared" }] }, "mounts[0].propagation: unknown field"],
    [
      "readonlyMode without readonly",
      { mounts: [{ type: "bind", source: "/a", target: "/b", readonlyMode: "recursive" }] },
      "mounts[0].readonlyMode: only allowed with readonly: true",
    ],
    [
      "readonlyMode with readonly false",
      { mounts: [{ type: "bind", source: "/a", target: "/b", readonly: false, readonlyMode: "nonrecursive" }] },
      "mounts[0].readonlyMode: only allowed with readonly: true",
    ],
    [
      "an unknown readonlyMode",
      { mounts: [{ type: "bind", source: "/a", target: "/b", readonly: true, readonlyMode: "yes" }] },
      'mounts[0].readonlyMode: expected one of "recursive", "nonrecursive"',
    ],
    [
      "several bad fields at once",
      { ipcMode: "x", autoRemove: 1, mounts: [{}, { type: "bind", source: "/a", target: "b" }] },
      "ipcMode: invalid IPC mode: x; autoRemove: expected boolean, got number; mounts[0].type: expected one of \"bind\"; mounts[0].source: expected string, got undefined; mounts[0].target: expected string, got undefined; mounts[1].target: must be an absolute path",
    ],
  ])("%s", (_, input, problems) => {
    let caught: unknown;
    try {
      parseHostConfig(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidArgumentError);
    expect((caught as Error).message).toBe(`invalid host config: ${problems}`);
    expect((caught as Error).cause).toBeDefined();
  });
});
