import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { InvalidArgumentError } from "@shoal/domain";
import {
  applyConfigSet,
  daemonConfigEquals,
  defaultDaemonConfig,
  formatDaemonConfig,
  isRootfsAllowed,
  parseDaemonConfig,
  parseDaemonConfigText,
} from "./daemon-config";
import type { DaemonConfig, RuntimeConfig } from "./daemon-config";

function refusal(f: () => unknown): InvalidArgumentError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
  throw new Error("expected InvalidArgumentError, nothing was thrown");
}

describe("parseDaemonConfig", () => {
  it("fills every default for an empty daemon.json", () => {
    expect(parseDaemonConfig({})).toEqual({
      defaultIpcMode: "private",
      defaultShmSizeBytes: 64 * 1024 * 1024,
      runtimes: { runc: { path: "runc", runtimeArgs: [] } },
      defaultRuntime: "runc",
      experimental: false,
      allowedRootfsRoots: [],
      heartbeatTimeoutMs: 15_000,
      stateRoot: "/var/lib/shoal",
      insecureRegistries: [],
    });
    expect(parseDaemonConfig({})).toEqual(defaultDaemonConfig());
  });

  it("reads a Docker-shaped daemon.json with Shoal's own keys", () => {
    const cfg = parseDaemonConfig({
      "default-ipc-mode": "shareable",
      "default-shm-size": "128m",
      runtimes: { crun: { path: "/usr/bin/crun" }, "runc-debug": { path: "/usr/sbin/runc", runtimeArgs: ["--debug"] } },
      "default-runtime": "crun",
      experimental: true,
      "allowed-rootfs-roots": ["/srv/rootfs/", "/data//images"],
      "heartbeat-timeout": "1m30s",
      "state-root": "/var/lib/shoal-test",
    });
    expect(cfg).toEqual({
      defaultIpcMode: "shareable",
      defaultShmSizeBytes: 128 * 1024 * 1024,
      runtimes: {
        crun: { path: "/usr/bin/crun", runtimeArgs: [] },
        runc: { path: "runc", runtimeArgs: [] },
        "runc-debug": { path: "/usr/sbin/runc", runtimeArgs: ["--debug"] },
      },
      defaultRuntime: "crun",
      experimental: true,
      allowedRootfsRoots: ["/srv/rootfs", "/data/images"],
      heartbeatTimeoutMs: 90_000,
      stateRoot: "/var/lib/shoal-test",
      insecureRegistries: [],
    });
  });

  it("takes sizes as bytes or with units and durations as ms or Go-style text", () => {
    expect(parseDaemonConfig({ "default-shm-size": 1536 }).defaultShmSizeBytes).toBe(1536);
    expect(parseDaemonConfig({ "default-shm-size": "1.5k" }).defaultShmSizeBytes).toBe(1536);
    expect(parseDaemonConfig({ "default-shm-size": "1G" }).defaultShmSizeBytes).toBe(1024 ** 3);
    expect(parseDaemonConfig({ "default-shm-size": 0 }).defaultShmSizeBytes).toBe(64 * 1024 * 1024);
    expect(parseDaemonConfig({ "heartbeat-timeout": 2500 }).heartbeatTimeoutMs).toBe(2500);
    expect(parseDaemonConfig({ "heartbeat-timeout": "1.1s" }).heartbeatTimeoutMs).toBe(1100);
    expect(parseDaemonConfig({ "heartbeat-timeout": "1h500ms" }).heartbeatTimeoutMs).toBe(3_600_500);
  });

  it("refuses the whole config and names every bad key in one readable message", () => {
    const err = refusal(() =>
      parseDaemonConfig({
        "default-ipc-mode": "host",
        "default-shm-size": "-1",
        experimental: "yes",
        "heartbeat-timeout": "soon",
        "allowed-rootfs-roots": ["relative"],
        "state-root": "/",
        "log-level": "debug",
        runtimes: { kata: { path: "kata-runtime", runtimeArg: [] } },
        "default-runtime": "gvisor",
      }),
    );
    expect(err.code).toBe("INVALID_ARGUMENT");
    expect(err.message).toMatch(/^invalid daemon config: /);
    for (const key of [
      "default-ipc-mode:",
      "default-shm-size:",
      "experimental:",
      "heartbeat-timeout:",
      "allowed-rootfs-roots[0]:",
      "state-root:",
      "log-level: unknown key",
      "runtimes.kata.path:",
      "runtimes.kata.runtimeArg: unknown key",
      "default-runtime:",
    ]) {
      expect(err.message).toContain(key);
    }
    expect(err.message).toContain('default-ipc-mode: invalid default IPC mode: host (want "private" or "shareable")');
    expect(err.message).not.toMatch(/invalid_type|"code"|ZodError|\[\{/);
  });

  it("refuses redefining the built-in runc, as Docker does", () => {
    const err = refusal(() => parseDaemonConfig({ runtimes: { runc: { path: "/opt/runc" } } }));
    expect(err.message).toContain('runtimes.runc: "runc" is built in');
  });

  it("refuses a default runtime that is not configured and lists the known ones", () => {
    const err = refusal(() => parseDaemonConfig({ "default-runtime": "crun", runtimes: { kata: { path: "/k" } } }));
    expect(err.message).toBe('invalid daemon config: default-runtime: "crun" is not a configured runtime (known: kata, runc)');
  });

  it("refuses runtime names that could not be typed on a command line or collide with object internals", () => {
    for (const name of ["", "has space", "-dash-first", "__proto__", "x".repeat(65)]) {
      const json = JSON.parse(`{"runtimes": {${JSON.stringify(name)}: {"path": "/bin/x"}}}`);
      expect(refusal(() => parseDaemonConfig(json)).message).toContain("a runtime name is");
    }
  });

  it("refuses non-objects and non-JSON text", () => {
    expect(refusal(() => parseDaemonConfig([])).message).toBe("invalid daemon config: must be a JSON object, got []");
    expect(refusal(() => parseDaemonConfig(null)).message).toContain("must be a JSON object");
    expect(refusal(() => parseDaemonConfigText("{ nope")).message).toMatch(/^invalid daemon config: not valid JSON: /);
    expect(parseDaemonConfigText('{"experimental": true}').experimental).toBe(true);
  });

  it("shares nothing with its input", () => {
    const input = { runtimes: { k: { path: "/k", runtimeArgs: ["a"] } }, "allowed-rootfs-roots": ["/r"] };
    const cfg = parseDaemonConfig(input);
    input.runtimes.k.runtimeArgs.push("b");
    input["allowed-rootfs-roots"].push("/s");
    expect(cfg.runtimes["k"]?.runtimeArgs).toEqual(["a"]);
    expect(cfg.allowedRootfsRoots).toEqual(["/r"]);
  });
});

describe("formatDaemonConfig", () => {
  it("prints every key in a stable order with short exact units and without the built-in runc", () => {
    const text = JSON.stringify(
      formatDaemonConfig(
        parseDaemonConfig({
          "state-root": "/s",
          runtimes: { b: { path: "/b", runtimeArgs: ["--x"] }, a: { path: "/a" } },
          "heartbeat-timeout": 90_500,
          "default-shm-size": 2 * 1024 ** 3,
        }),
      ),
    );
    expect(text).toBe(
      '{"allowed-rootfs-roots":[],"default-ipc-mode":"private","default-runtime":"runc","default-shm-size":"2g",' +
        '"experimental":false,"heartbeat-timeout":"1m30s500ms","insecure-registries":[],"runtimes":{"a":{"path":"/a"},"b":{"path":"/b","runtimeArgs":["--x"]}},' +
        '"state-root":"/s"}',
    );
  });
});

const absPath = fc
  .array(fc.stringMatching(/^[a-z0-9._-]{1,8}$/).filter((s) => s !== "." && s !== ".."), { minLength: 1, maxLength: 4 })
  .map((parts) => `/${parts.join("/")}`);
const runtimeName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$/).filter((n) => n !== "runc");
const runtime: fc.Arbitrary<RuntimeConfig> = fc.record({
  path: absPath,
  runtimeArgs: fc.array(fc.string().filter((s) => !s.includes("\0")), { maxLength: 3 }),
});

/** Any valid config, in its parsed form. */
const arbitraryDaemonConfig: fc.Arbitrary<DaemonConfig> = fc
  .record({
    defaultIpcMode: fc.constantFrom("private" as const, "shareable" as const),
    defaultShmSizeBytes: fc.integer({ min: 1, max: 2 ** 40 }),
    userRuntimes: fc.dictionary(runtimeName, runtime, { maxKeys: 3 }),
    experimental: fc.boolean(),
    allowedRootfsRoots: fc.uniqueArray(absPath, { maxLength: 3 }),
    heartbeatTimeoutMs: fc.integer({ min: 1, max: 10 * 24 * 3_600_000 }),
    stateRoot: absPath,
    insecureRegistries: fc.uniqueArray(fc.constantFrom("registry.local", "10.0.0.1:5000", "r.example:443"), { maxLength: 3 }),
    defaultPick: fc.nat(),
  })
  .map(({ userRuntimes, defaultPick, ...rest }) => {
    const runtimes = { ...userRuntimes, runc: { path: "runc", runtimeArgs: [] } };
    const names = Object.keys(runtimes).sort();
    return { ...rest, runtimes, defaultRuntime: names[defaultPick % names.length]! };
  });

describe("properties", () => {
  it("parse(format(c)) is c", () => {
    fc.assert(
      fc.property(arbitraryDaemonConfig, (cfg) => {
        expect(parseDaemonConfig(formatDaemonConfig(cfg))).toEqual(cfg);
        expect(daemonConfigEquals(parseDaemonConfig(formatDaemonConfig(cfg)), cfg)).toBe(true);
      }),
    );
  });

  it("any unknown key refuses the whole config", () => {
    fc.assert(
      fc.property(
        arbitraryDaemonConfig,
        fc.string({ minLength: 1 }).filter((k) => !(k in formatDaemonConfig(defaultDaemonConfig())) && k !== "__proto__"),
        (cfg, key) => {
          const err = refusal(() => parseDaemonConfig({ ...formatDaemonConfig(cfg), [key]: 1 }));
          expect(err.message).toContain(`${key}: unknown key`);
        },
      ),
    );
  });

  it("setting each key to its printed value changes nothing", () => {
    fc.assert(
      fc.property(arbitraryDaemonConfig, (cfg) => {
        const json = formatDaemonConfig(cfg);
        const assignments = Object.entries(json).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
        expect(applyConfigSet(defaultDaemonConfig(), assignments)).toEqual(cfg);
      }),
    );
  });
});

describe("applyConfigSet", () => {
  const base = parseDaemonConfig({ runtimes: { kata: { path: "/usr/bin/kata" } }, experimental: true });

  it("parses each value by its key's type", () => {
    const cfg = applyConfigSet(base, [
      "experimental=false",
      "default-shm-size=256m",
      "heartbeat-timeout=30000",
      "allowed-rootfs-roots=/srv/a, /srv/b/",
      "default-ipc-mode=shareable",
      'runtimes.crun={"path":"/usr/bin/crun","runtimeArgs":["--cgroup-manager","cgroupfs"]}',
      "default-runtime=crun",
      "state-root=/tmp/shoal-state",
      "insecure-registries=registry.local:5000, 10.1.2.3",
    ]);
    expect(cfg).toEqual({
      defaultIpcMode: "shareable",
      defaultShmSizeBytes: 256 * 1024 * 1024,
      runtimes: {
        crun: { path: "/usr/bin/crun", runtimeArgs: ["--cgroup-manager", "cgroupfs"] },
        kata: { path: "/usr/bin/kata", runtimeArgs: [] },
        runc: { path: "runc", runtimeArgs: [] },
      },
      defaultRuntime: "crun",
      experimental: false,
      allowedRootfsRoots: ["/srv/a", "/srv/b"],
      heartbeatTimeoutMs: 30_000,
      stateRoot: "/tmp/shoal-state",
      insecureRegistries: ["registry.local:5000", "10.1.2.3"],
    });
  });

  it("replaces all runtimes from JSON, removes one with an empty value, and resets a key with KEY=", () => {
    expect(Object.keys(applyConfigSet(base, ['runtimes={"x":{"path":"/x"}}']).runtimes)).toEqual(["runc", "x"]);
    expect(Object.keys(applyConfigSet(base, ["runtimes.kata="]).runtimes)).toEqual(["runc"]);
    expect(applyConfigSet(base, ["experimental="]).experimental).toBe(false);
    expect(applyConfigSet(base, ["allowed-rootfs-roots=/a", "allowed-rootfs-roots="]).allowedRootfsRoots).toEqual([]);
    expect(applyConfigSet(base, ["allowed-rootfs-roots=[\"/a\",\"/b\"]"]).allowedRootfsRoots).toEqual(["/a", "/b"]);
  });

  it("validates the result as a whole: removing the default runtime is refused", () => {
    const withDefault = applyConfigSet(base, ["default-runtime=kata"]);
    const err = refusal(() => applyConfigSet(withDefault, ["runtimes.kata="]));
    expect(err.message).toContain('default-runtime: "kata" is not a configured runtime');
    // …and allowed when both change together.
    expect(applyConfigSet(withDefault, ["runtimes.kata=", "default-runtime=runc"]).defaultRuntime).toBe("runc");
  });

  it("refuses bad assignments all at once and leaves the current config untouched", () => {
    const before = JSON.stringify(base);
    const err = refusal(() =>
      applyConfigSet(base, ["experimental=yes", "nope=1", "no-equals-sign", 'runtimes.k={"path":', "runtimes.runc=", "default-shm-size=1.1k"]),
    );
    expect(err.message).toContain('experimental: must be true or false, got "yes"');
    expect(err.message).toContain("nope: unknown key");
    expect(err.message).toContain('"no-equals-sign" is not KEY=VALUE');
    expect(err.message).toContain("runtimes.k: value is not valid JSON");
    expect(err.message).toContain('runtimes.runc: "runc" is built in');
    expect(JSON.stringify(base)).toBe(before);
  });

  it("a later assignment to the same key wins", () => {
    expect(applyConfigSet(base, ["experimental=false", "experimental=true"]).experimental).toBe(true);
  });

  it("returns an equal config when nothing changes", () => {
    expect(daemonConfigEquals(applyConfigSet(base, ["experimental=true"]), base)).toBe(true);
    expect(daemonConfigEquals(applyConfigSet(base, ["experimental=false"]), base)).toBe(false);
  });
});

describe("isRootfsAllowed", () => {
  it("allows any absolute directory when no roots are configured", () => {
    expect(isRootfsAllowed(defaultDaemonConfig(), "/anywhere/rootfs")).toBe(true);
    expect(isRootfsAllowed(defaultDaemonConfig(), "relative/rootfs")).toBe(false);
  });

  it("allows a root itself and what lies below it, nothing else (no prefix tricks, no ..)", () => {
    const cfg = parseDaemonConfig({ "allowed-rootfs-roots": ["/srv/rootfs/"] });
    expect(isRootfsAllowed(cfg, "/srv/rootfs")).toBe(true);
    expect(isRootfsAllowed(cfg, "/srv/rootfs/busybox")).toBe(true);
    expect(isRootfsAllowed(cfg, "/srv/rootfs-evil")).toBe(false);
    expect(isRootfsAllowed(cfg, "/srv/rootfs/../etc")).toBe(false);
    expect(isRootfsAllowed(cfg, "/srv")).toBe(false);
  });
});
