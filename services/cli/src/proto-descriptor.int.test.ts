import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeProtos, PROTO_FILES } from "./proto-descriptor";

// The build fails, naming the field, when the API grows something the CLI's codec cannot carry.
describe("describeProtos", () => {
  it("refuses, by name, what the codec does not implement", async () => {
    const dir = await mkdtemp(join(tmpdir(), "shoal-protos-"));
    try {
      await mkdir(join(dir, "shoal/v1"), { recursive: true });
      const write = (body: string) =>
        Promise.all(
          PROTO_FILES.map((f, i) => writeFile(join(dir, f), `syntax = "proto3";\npackage shoal.v1;\n${i === 0 ? body : ""}`)),
        );
      await write("enum Mode { M = 0; }\nmessage A { Mode m = 1; }\nservice S { rpc Do(A) returns (A); }");
      expect(() => describeProtos(dir)).toThrow("shoal.v1.A.m: enums are not supported");
      await write("message A { oneof x { string s = 1; int32 i = 2; } }\nservice S { rpc Do(A) returns (A); }");
      expect(() => describeProtos(dir)).toThrow("shoal.v1.A.s: oneof is not supported");
      await write("message A { double d = 1; }\nservice S { rpc Do(A) returns (A); }");
      expect(() => describeProtos(dir)).toThrow("shoal.v1.A.d: field type double is not supported");
      await write("message A { string s = 1; }\nservice S { rpc Do(stream A) returns (A); }");
      // Client streaming is carried (checkpoint import).
      expect(describeProtos(dir).methods["S/Do"]).toMatchObject({ clientStreaming: true });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
