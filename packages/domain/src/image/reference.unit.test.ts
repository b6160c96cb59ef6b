import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../errors";
import { familiarName, familiarString, parseImageReference, referenceString, validateDigest } from "./reference";

const HEX = "0123456789abcdef".repeat(4);
const DIGEST = `sha256:${HEX}`;

describe("parseImageReference normalises as docker does", () => {
  it.each([
    ["busybox", { domain: "docker.io", path: "library/busybox", tag: "latest" }, "docker.io/library/busybox:latest", "busybox"],
    ["busybox:1.36", { domain: "docker.io", path: "library/busybox", tag: "1.36" }, "docker.io/library/busybox:1.36", "busybox"],
    ["docker.io/busybox", { domain: "docker.io", path: "library/busybox", tag: "latest" }, "docker.io/library/busybox:latest", "busybox"],
    ["index.docker.io/library/busybox", { domain: "docker.io", path: "library/busybox", tag: "latest" }, "docker.io/library/busybox:latest", "busybox"],
    ["someone/app", { domain: "docker.io", path: "someone/app", tag: "latest" }, "docker.io/someone/app:latest", "someone/app"],
    ["library/a/b", { domain: "docker.io", path: "library/a/b", tag: "latest" }, "docker.io/library/a/b:latest", "library/a/b"],
    ["localhost/x", { domain: "localhost", path: "x", tag: "latest" }, "localhost/x:latest", "localhost/x"],
    ["localhost:5000/a/b:t", { domain: "localhost:5000", path: "a/b", tag: "t" }, "localhost:5000/a/b:t", "localhost:5000/a/b"],
    [`127.0.0.1:5000/x@${DIGEST}`, { domain: "127.0.0.1:5000", path: "x", digest: DIGEST }, `127.0.0.1:5000/x@${DIGEST}`, "127.0.0.1:5000/x"],
    [`name:tag@${DIGEST}`, { domain: "docker.io", path: "library/name", tag: "tag", digest: DIGEST }, `docker.io/library/name:tag@${DIGEST}`, "name"],
    ["[::1]:5000/x:T_1.a-b", { domain: "[::1]:5000", path: "x", tag: "T_1.a-b" }, "[::1]:5000/x:T_1.a-b", "[::1]:5000/x"],
    ["Registry.Example/x", { domain: "Registry.Example", path: "x", tag: "latest" }, "Registry.Example/x:latest", "Registry.Example/x"],
    ["example.com/a__b/c-d---e/f.g", { domain: "example.com", path: "a__b/c-d---e/f.g", tag: "latest" }, "example.com/a__b/c-d---e/f.g:latest", "example.com/a__b/c-d---e/f.g"],
    // Looks like a domain but is not one by the grammar: distribution keeps it in the path.
    ["a_b.c/x", { domain: "", path: "a_b.c/x", tag: "latest" }, "a_b.c/x:latest", "a_b.c/x"],
  ])("%s", (input, parsed, canonical, familiar) => {
    const ref = parseImageReference(input);
    expect(ref).toEqual(parsed);
    expect(referenceString(ref)).toBe(canonical);
    expect(familiarName(ref)).toBe(familiar);
  });

  it("familiarString keeps tag and digest", () => {
    expect(familiarString(parseImageReference("busybox"))).toBe("busybox:latest");
    expect(familiarString(parseImageReference("localhost:5000/x:nope"))).toBe("localhost:5000/x:nope");
    expect(familiarString(parseImageReference(`x@${DIGEST}`))).toBe(`x@${DIGEST}`);
  });

  it("round-trips its canonical string", () => {
    for (const s of ["busybox", "localhost:5000/a/b:t", `127.0.0.1:5000/x@${DIGEST}`, `n:t@${DIGEST}`]) {
      const ref = parseImageReference(s);
      expect(parseImageReference(referenceString(ref))).toEqual(ref);
    }
  });
});

describe("parseImageReference refuses with Docker's words", () => {
  it.each([
    ["Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"],
    ["localhost:5000/A/b", "invalid reference format: repository name (A/b) must be lowercase"],
    ["someone/App:1", "invalid reference format: repository name (someone/App) must be lowercase"],
    ["", "invalid reference format"],
    ["busybox:", "invalid reference format"],
    [":tag", "invalid reference format"],
    ["busybox:-x", "invalid reference format"],
    [`busybox:${"a".repeat(129)}`, "invalid reference format"],
    ["a//b", "invalid reference format"],
    ["a/b/", "invalid reference format"],
    ["-a", "invalid reference format"],
    ["a..b", "invalid reference format"],
    ["a b", "invalid reference format"],
    ["busybox@sha256:abc", "invalid reference format"],
    ["localhost:5000/", "invalid reference format"],
    ["localhost:port/x", "invalid reference format"],
    [HEX, `invalid repository name (${HEX}), cannot specify 64-byte hexadecimal strings`],
    [`busybox@sha256:${HEX}00`, "invalid checksum digest length"],
    [`busybox@md5:${HEX}`, "unsupported digest algorithm"],
    [`busybox@sha256:${HEX.toUpperCase()}`, "invalid checksum digest format"],
    [`x/${"a".repeat(260)}`, "repository name must not be more than 255 characters"],
  ])("%j", (input, message) => {
    const run = () => parseImageReference(input);
    expect(run).toThrow(InvalidArgumentError);
    expect(run).toThrow(message);
  });

  it("validateDigest accepts sha256/384/512 of their lengths", () => {
    expect(() => validateDigest(DIGEST)).not.toThrow();
    expect(() => validateDigest(`sha512:${HEX}${HEX}`)).not.toThrow();
    expect(() => validateDigest("sha256")).toThrow("invalid checksum digest format");
  });
});
