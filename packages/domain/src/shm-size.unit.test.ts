import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DEFAULT_SHM_SIZE_BYTES, effectiveShmSize, parseShmSize, validateShmSizeForMode } from "./shm-size";
import type { IpcMode } from "./ipc-mode";
import { InternalError, InvalidArgumentError } from "./errors";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe("parseShmSize", () => {
  it.each<[string | number | undefined, number | undefined]>([
    [undefined, undefined],
    ["", undefined],
    [0, undefined],
    ["0", undefined],
    ["0m", undefined],
    [1, 1],
    [67108864, 64 * MiB],
    ["1024", 1024],
    ["10b", 10],
    ["10B", 10],
    ["1k", KiB],
    ["1K", KiB],
    ["1kb", KiB],
    ["1KB", KiB],
    ["64m", 64 * MiB],
    ["64M", 64 * MiB],
    ["64mb", 64 * MiB],
    ["64Mb", 64 * MiB],
    ["1g", GiB],
    ["2G", 2 * GiB],
    ["1gb", GiB],
    ["1.5k", 1536],
    ["0.5g", 512 * MiB],
    ["1.25m", 1.25 * MiB],
  ])("%j is %j bytes", (input, expected) => {
    expect(parseShmSize(input)).toBe(expected);
  });

  it.each<string | number>([
    -1,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    2 ** 53,
    "-1",
    "-64m",
    "+64m",
    "64x",
    "64mib",
    "64 m",
    " 64m",
    "64m ",
    "m",
    "1.2.3m",
    "1.5",
    "1.5b",
    "1.1k",
    ".5m",
    "5.m",
    "1e3",
    "0x10",
    "64t",
    "64bb",
    "abc",
    "99999999999g",
  ])("refuses %j", (input) => {
    expect(() => parseShmSize(input)).toThrow(new InvalidArgumentError(`invalid shm size: ${input}`));
  });

  it("default is 64 MiB", () => {
    expect(DEFAULT_SHM_SIZE_BYTES).toBe(64 * MiB);
  });
});

describe("validateShmSizeForMode", () => {
  it.each<IpcMode>([{ kind: "default" }, { kind: "private" }, { kind: "shareable" }, { kind: "none" }])(
    "accepts a size with %j",
    (mode) => {
      expect(() => validateShmSizeForMode(mode, 64 * MiB)).not.toThrow();
    },
  );
  it.each<IpcMode>([{ kind: "host" }, { kind: "container", ref: "db" }])("accepts no size with %j", (mode) => {
    expect(() => validateShmSizeForMode(mode, undefined)).not.toThrow();
  });
  it("refuses a size on a member", () => {
    expect(() => validateShmSizeForMode({ kind: "container", ref: "db" }, MiB)).toThrow(
      new InvalidArgumentError(
        "shm size cannot be set for a container that joins another's IPC namespace (container:db)",
      ),
    );
  });
  it("refuses a size with host", () => {
    expect(() => validateShmSizeForMode({ kind: "host" }, MiB)).toThrow(
      new InvalidArgumentError("shm size cannot be set with IPC mode host: the host's /dev/shm is used"),
    );
  });
});

describe("effectiveShmSize", () => {
  it("private and shareable: own size, else daemon default, else 64 MiB", () => {
    for (const kind of ["private", "shareable"] as const) {
      expect(effectiveShmSize({ mode: { kind }, requested: 8 * MiB, daemonDefault: 16 * MiB })).toBe(8 * MiB);
      expect(effectiveShmSize({ mode: { kind }, requested: undefined, daemonDefault: 16 * MiB })).toBe(16 * MiB);
      expect(effectiveShmSize({ mode: { kind }, requested: undefined })).toBe(64 * MiB);
    }
  });
  it("a member inherits its owner's size", () => {
    expect(
      effectiveShmSize({ mode: { kind: "container", ref: "db" }, requested: undefined, daemonDefault: 16 * MiB, ownerEffective: 128 * MiB }),
    ).toBe(128 * MiB);
  });
  it("sizing a member without its owner's size is a bug", () => {
    expect(() => effectiveShmSize({ mode: { kind: "container", ref: "db" }, requested: undefined })).toThrow(InternalError);
  });
  it("none and host get no tmpfs from Shoal", () => {
    expect(effectiveShmSize({ mode: { kind: "none" }, requested: MiB })).toBeUndefined();
    expect(effectiveShmSize({ mode: { kind: "host" }, requested: undefined })).toBeUndefined();
  });
});

describe("parseShmSize, any whole size", () => {
  it("a number with any unit spelling is that many units of bytes", () => {
    const units: [string, number][] = [["", 1], ["b", 1], ["k", KiB], ["kb", KiB], ["m", MiB], ["mb", MiB], ["g", GiB], ["gb", GiB]];
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 22 }), fc.constantFrom(...units), fc.boolean(), (n, [unit, bytes], upper) => {
        const text = `${n}${upper ? unit.toUpperCase() : unit}`;
        expect(parseShmSize(text)).toBe(n * bytes);
      }),
    );
  });
});
