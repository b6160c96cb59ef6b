import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  BUILTIN_DEFAULT_IPC_MODE,
  formatIpcMode,
  isShareable,
  joinedContainerRef,
  parseDefaultIpcMode,
  parseIpcMode,
  resolveIpcMode,
} from "./ipc-mode";
import type { IpcMode } from "./ipc-mode";
import { InvalidArgumentError } from "./errors";

describe("parseIpcMode", () => {
  it.each<[string, IpcMode]>([
    ["", { kind: "default" }],
    ["none", { kind: "none" }],
    ["private", { kind: "private" }],
    ["shareable", { kind: "shareable" }],
    ["host", { kind: "host" }],
    ["container:db", { kind: "container", ref: "db" }],
    ["container:/db", { kind: "container", ref: "db" }],
    ["container:my_app.1-x", { kind: "container", ref: "my_app.1-x" }],
    ["container:" + "a".repeat(64), { kind: "container", ref: "a".repeat(64) }],
  ])("parses %j", (input, expected) => {
    expect(parseIpcMode(input)).toEqual(expected);
  });

  it.each(["container:", "container:/", "container:-x", "container:a b", "Private", "shared", " private", "private ", "container", "host:", "default"])(
    "refuses %j with Docker's message",
    (input) => {
      expect(() => parseIpcMode(input)).toThrow(InvalidArgumentError);
      expect(() => parseIpcMode(input)).toThrow(new InvalidArgumentError(`invalid IPC mode: ${input}`));
    },
  );

  it("round-trips through formatIpcMode", () => {
    for (const s of ["", "none", "private", "shareable", "host", "container:db", "container:" + "f".repeat(64)]) {
      expect(formatIpcMode(parseIpcMode(s))).toBe(s);
    }
    expect(formatIpcMode(parseIpcMode("container:/db"))).toBe("container:db");
  });
});

describe("parseDefaultIpcMode", () => {
  it.each(["private", "shareable"] as const)("accepts %s", (s) => {
    expect(parseDefaultIpcMode(s)).toBe(s);
  });
  it.each(["", "none", "host", "container:db", "Private"])("refuses %j", (s) => {
    expect(() => parseDefaultIpcMode(s)).toThrow(new InvalidArgumentError(`invalid default IPC mode: ${s}`));
  });
  it("built-in default is private", () => {
    expect(BUILTIN_DEFAULT_IPC_MODE).toBe("private");
  });
});

describe("resolveIpcMode", () => {
  it.each<[IpcMode | undefined, "private" | "shareable", IpcMode]>([
    [undefined, "private", { kind: "shareable" }],
    [undefined, "shareable", { kind: "shareable" }],
    [{ kind: "default" }, "private", { kind: "private" }],
    [{ kind: "default" }, "shareable", { kind: "shareable" }],
    [{ kind: "none" }, "shareable", { kind: "none" }],
    [{ kind: "host" }, "shareable", { kind: "host" }],
    [{ kind: "private" }, "shareable", { kind: "private" }],
    [{ kind: "container", ref: "db" }, "private", { kind: "container", ref: "db" }],
  ])("%j with daemon default %s resolves to %j", (requested, daemonDefault, expected) => {
    expect(resolveIpcMode(requested, daemonDefault)).toEqual(expected);
  });
});

describe("helpers", () => {
  it("only shareable containers may be joined", () => {
    expect(isShareable({ kind: "shareable" })).toBe(true);
    for (const kind of ["none", "private", "host"] as const) expect(isShareable({ kind })).toBe(false);
    expect(isShareable({ kind: "container", ref: "x" })).toBe(false);
  });
  it("joinedContainerRef names the owner of a member only", () => {
    expect(joinedContainerRef({ kind: "container", ref: "db" })).toBe("db");
    expect(joinedContainerRef({ kind: "shareable" })).toBeUndefined();
  });
});

describe("container refs, any valid name", () => {
  it("container:<name> parses to the name and formats back", () => {
    const name = fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,30}$/);
    fc.assert(
      fc.property(name, (n) => {
        expect(parseIpcMode(`container:${n}`)).toEqual({ kind: "container", ref: n });
        expect(formatIpcMode({ kind: "container", ref: n })).toBe(`container:${n}`);
      }),
    );
  });
});
