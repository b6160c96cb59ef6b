import { describe, expect, it } from "vitest";
import { parseWwwAuthenticate } from "./www-authenticate";

describe("parseWwwAuthenticate", () => {
  it("reads Docker Hub's Bearer challenge", () => {
    expect(
      parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'),
    ).toEqual([{ scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/busybox:pull" } }]);
  });

  it("reads docker-registry's htpasswd Basic challenge", () => {
    expect(parseWwwAuthenticate('Basic realm="shoal-test"')).toEqual([{ scheme: "basic", params: { realm: "shoal-test" } }]);
  });

  it("keeps commas and escaped quotes inside quoted values, and reads an insufficient_scope error", () => {
    const [c] = parseWwwAuthenticate(
      'Bearer realm="https://r/token", service="r", scope="repository:a:pull,push repository:b:pull", error="insufficient_scope", x="a\\"b"',
    );
    expect(c?.params).toEqual({ realm: "https://r/token", service: "r", scope: "repository:a:pull,push repository:b:pull", error: "insufficient_scope", x: 'a"b' });
  });

  it("reads several challenges in one header, unquoted values, and any case of names", () => {
    expect(parseWwwAuthenticate('Basic realm=x, BEARER Realm="https://t/token",Service=reg')).toEqual([
      { scheme: "basic", params: { realm: "x" } },
      { scheme: "bearer", params: { realm: "https://t/token", service: "reg" } },
    ]);
  });

  it("gives nothing for an empty or unreadable header", () => {
    expect(parseWwwAuthenticate("")).toEqual([]);
    expect(parseWwwAuthenticate("  ,  ")).toEqual([]);
    expect(parseWwwAuthenticate("Negotiate")).toEqual([{ scheme: "negotiate", params: {} }]);
  });
});
