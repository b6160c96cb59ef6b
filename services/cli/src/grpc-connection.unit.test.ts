import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { frame, MessageReader, parseTarget } from "./grpc-connection";

describe("parseTarget", () => {
  it("reads the gRPC target forms the CLI accepts", () => {
    expect(parseTarget("127.0.0.1:7420")).toEqual({ authority: "127.0.0.1:7420" });
    expect(parseTarget("api.local:7420")).toEqual({ authority: "api.local:7420" });
    expect(parseTarget("[::1]:7420")).toEqual({ authority: "[::1]:7420" });
    expect(parseTarget("dns:api.local:7420")).toEqual({ authority: "api.local:7420" });
    expect(parseTarget("dns:///api.local:7420")).toEqual({ authority: "api.local:7420" });
    expect(parseTarget("unix:/run/shoal/api.sock")).toEqual({ authority: "localhost", socketPath: "/run/shoal/api.sock" });
    expect(parseTarget("unix:///run/shoal/api.sock")).toEqual({ authority: "localhost", socketPath: "/run/shoal/api.sock" });
  });

  it.each(["127.0.0.1", "http://h:1", "h:port", ""])("refuses %j", (target) => {
    expect(() => parseTarget(target)).toThrow("expected host:port or unix:/path");
  });
});

describe("MessageReader", () => {
  it("returns every framed message whole, however the body is split into chunks (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }), fc.array(fc.nat(20), { maxLength: 10 }), (messages, cuts) => {
        const body = Buffer.concat(messages.map((m) => frame(m)));
        const reader = new MessageReader();
        const out: Buffer[] = [];
        let at = 0;
        for (const cut of cuts) {
          out.push(...reader.push(body.subarray(at, Math.min(body.length, at + cut))));
          at = Math.min(body.length, at + cut);
        }
        out.push(...reader.push(body.subarray(at)));
        expect(out.map((b) => [...b])).toEqual(messages.map((m) => [...m]));
        expect(reader.pending).toBe(0);
      }),
    );
  });

  it("refuses a compressed message (the CLI only accepts identity)", () => {
    const compressed = frame(new Uint8Array([1, 2]));
    compressed[0] = 1;
    expect(() => new MessageReader().push(compressed)).toThrow("compressed");
  });
});
