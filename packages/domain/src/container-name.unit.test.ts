import { describe, expect, it } from "vitest";
import { isValidContainerName, normalizeContainerName, normalizeContainerRef } from "./container-name";
import { isContainerId, looksLikeIdPrefix, parseContainerId, shortContainerId } from "./container-id";
import { InvalidArgumentError } from "./errors";

const ID = "0123456789abcdef".repeat(4);

describe("container names", () => {
  it.each([
    ["db", "db"],
    ["/db", "db"],
    ["a1", "a1"],
    ["9lives", "9lives"],
    ["my_app.v1-2", "my_app.v1-2"],
    ["A.B_C-D", "A.B_C-D"],
  ])("%j is stored as %j", (input, stored) => {
    expect(normalizeContainerName(input)).toBe(stored);
    expect(isValidContainerName(stored)).toBe(true);
  });

  it.each(["", "/", "a", "/a", "9", "//db", "_db", ".db", "-db", "db/x", "d b", "db:1", "dé", "db\n"])("refuses %j with Docker's message", (input) => {
    const run = () => normalizeContainerName(input);
    expect(run).toThrow(InvalidArgumentError);
    expect(run).toThrow(`Invalid container name (${input}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  });

  it("a ref is a name or an id, with one leading slash stripped", () => {
    expect(normalizeContainerRef("/db")).toBe("db");
    // An id prefix of one character is a reference, though it could never be a name.
    expect(normalizeContainerRef("a")).toBe("a");
    expect(normalizeContainerRef(ID)).toBe(ID);
    expect(normalizeContainerRef("")).toBeUndefined();
    expect(normalizeContainerRef("//db")).toBeUndefined();
  });
});

describe("container ids", () => {
  it.each([
    [ID, true],
    [ID.toUpperCase(), false],
    [ID.slice(1), false],
    [ID + "0", false],
    ["g" + ID.slice(1), false],
    ["", false],
  ])("isContainerId(%j) is %s", (s, ok) => {
    expect(isContainerId(s)).toBe(ok);
  });

  it.each([
    ["0", true],
    ["abc123", true],
    [ID, true],
    [ID + "0", false],
    ["", false],
    ["ABC", false],
    ["dbx", false],
  ])("looksLikeIdPrefix(%j) is %s", (s, ok) => {
    expect(looksLikeIdPrefix(s)).toBe(ok);
  });

  it("parseContainerId refuses anything but a full id", () => {
    expect(parseContainerId(ID)).toBe(ID);
    expect(() => parseContainerId("abc")).toThrow(new InvalidArgumentError("invalid container id: abc"));
  });

  it("short ids are 12 characters", () => {
    expect(shortContainerId(ID)).toBe("0123456789ab");
  });
});
