import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import protobuf from "protobufjs";
import { describe, expect, it } from "vitest";
import { createCodecs } from "./proto-codec";
import { describeProtos, PROTO_FILES } from "./proto-descriptor";
import type { FieldDescriptor, ProtoDescriptor } from "./proto-descriptor";

// The CLI's own codec checked against protobufjs (the reference the api's grpc-js stack
// uses) on every message of proto/shoal/v1, with generated values: each side decodes what
// the other encodes, and what comes out is what went in.

const protoDir = fileURLToPath(new URL("../../../proto/", import.meta.url));
const descriptor: ProtoDescriptor = describeProtos(protoDir);
const codecs = createCodecs(descriptor);

const reference = new protobuf.Root();
reference.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? target : join(protoDir, target));
reference.loadSync(PROTO_FILES, { keepCase: true });
reference.resolveAll();
const TO_OBJECT = { longs: String, defaults: true, arrays: true, objects: true } as const;

function scalar(field: FieldDescriptor): fc.Arbitrary<unknown> {
  switch (field.type) {
    case "string":
      return fc.string({ unit: "binary", maxLength: 12 });
    case "bytes":
      return fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b));
    case "bool":
      return fc.boolean();
    // Zero (the proto3 default, never on the wire unless `optional`) comes up often on purpose.
    case "int32":
      return fc.oneof(fc.constant(0), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
    case "uint32":
      return fc.oneof(fc.constant(0), fc.nat(2 ** 32 - 1));
    case "int64":
      return fc.oneof(fc.constant("0"), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String));
    case "uint64":
      return fc.oneof(fc.constant("0"), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String));
    case "message":
      throw new Error("not a scalar");
  }
}

function messageArbitrary(name: string, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const entries: Record<string, fc.Arbitrary<unknown>> = {};
  const optionalKeys: string[] = [];
  for (const field of descriptor.messages[name]!) {
    const one =
      field.type === "message"
        ? depth <= 0
          ? fc.constant(null)
          : messageArbitrary(field.message!, depth - 1)
        : scalar(field);
    if (field.map) entries[field.name] = fc.dictionary(fc.string({ maxLength: 6 }), one, { maxKeys: 3 });
    else if (field.repeated) entries[field.name] = fc.array(field.type === "message" && depth <= 0 ? fc.constant({}) : one, { maxLength: 3 }).map((items) => items.filter((i) => i !== null));
    else if (field.type === "message") entries[field.name] = fc.option(one, { nil: null });
    else entries[field.name] = one;
    if (field.optional) optionalKeys.push(field.name);
  }
  return fc.record(entries, { requiredKeys: Object.keys(entries).filter((k) => !optionalKeys.includes(k)) });
}

/** Bytes as plain arrays, so Buffer and Uint8Array compare equal. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return [...value];
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** Nested messages inside repeated fields that the generator left empty ({}) are full messages once decoded. */
function filled(name: string, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value };
  for (const field of descriptor.messages[name]!) {
    if (field.type !== "message") continue;
    const v = out[field.name];
    if (field.repeated && Array.isArray(v)) out[field.name] = v.map((item) => filled(field.message!, item as Record<string, unknown>));
    else if (field.map && v !== undefined) {
      out[field.name] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, item]) => [k, filled(field.message!, item as Record<string, unknown>)]));
    } else if (v !== null && v !== undefined) out[field.name] = filled(field.message!, v as Record<string, unknown>);
  }
  for (const field of descriptor.messages[name]!) {
    if (out[field.name] === undefined && !field.optional) {
      out[field.name] = field.map ? {} : field.repeated ? [] : field.type === "message" ? null : codecs(name).decode(new Uint8Array())[field.name];
    }
  }
  return out;
}

const messageNames = Object.keys(descriptor.messages);

describe("proto codec", () => {
  it("describes every shoal.v1 method and the messages they use", () => {
    expect(descriptor.methods["Containers/CreateContainer"]).toEqual({
      path: "/shoal.v1.Containers/CreateContainer",
      request: "shoal.v1.CreateContainerRequest",
      response: "shoal.v1.CreateContainerResponse",
    });
    expect(descriptor.methods["Events/Subscribe"]?.serverStreaming).toBe(true);
    expect(descriptor.messages["google.protobuf.Timestamp"]).toEqual([
      { name: "seconds", id: 1, type: "int64" },
      { name: "nanos", id: 2, type: "int32" },
    ]);
    expect(descriptor.messages["shoal.v1.StopContainerRequest"]!.find((f) => f.name === "timeout_seconds")).toMatchObject({ optional: true });
    expect(descriptor.messages["shoal.v1.ListContainersRequest"]!.find((f) => f.name === "filters")).toMatchObject({ map: true, type: "string" });
  });

  it.each(messageNames)("%s: protobufjs decodes what the codec encodes, and the codec decodes what protobufjs encodes", (name) => {
    const type = reference.lookupType(name);
    const codec = codecs(name);
    fc.assert(
      fc.property(messageArbitrary(name, 2), (value) => {
        const expected = plain(filled(name, value));
        const ours = codec.encode(value);
        expect(plain(type.toObject(type.decode(ours), TO_OBJECT))).toEqual(expected);
        expect(plain(codec.decode(ours))).toEqual(expected);
        const theirs = type.encode(type.fromObject(value)).finish();
        expect(plain(codec.decode(theirs))).toEqual(expected);
      }),
      { numRuns: 50 },
    );
    // Generous: fast-check on nested messages is slow on a busy 2-core machine.
  }, 30_000);

  it("keeps an explicitly set proto3 optional zero (`stop -t 0`) and leaves an unset one absent", () => {
    const stop = codecs("shoal.v1.StopContainerRequest");
    expect(stop.decode(stop.encode({ container: "web", timeout_seconds: 0 }))).toEqual({ container: "web", timeout_seconds: 0 });
    const unset = stop.decode(stop.encode({ container: "web" }));
    expect(unset).toEqual({ container: "web" });
    expect("timeout_seconds" in unset).toBe(false);
  });

  it("skips fields it does not know, so an api with newer protos still answers an older CLI", () => {
    const w = protobuf.Writer.create();
    w.uint32((1 << 3) | 2).string("abc"); // id
    w.uint32((99 << 3) | 0).uint64(7); // unknown varint
    w.uint32((98 << 3) | 2).bytes(Buffer.from([1, 2, 3])); // unknown length-delimited
    w.uint32((97 << 3) | 5).fixed32(1); // unknown 32-bit
    w.uint32((96 << 3) | 1).fixed64(1); // unknown 64-bit
    w.uint32((2 << 3) | 2).string("web"); // name
    expect(codecs("shoal.v1.CreateContainerResponse").decode(w.finish())).toEqual({ id: "abc", name: "web" });
  });

  it("refuses truncated input instead of inventing values", () => {
    const bytes = codecs("shoal.v1.CreateContainerResponse").encode({ id: "abcdef", name: "" });
    expect(() => codecs("shoal.v1.CreateContainerResponse").decode(bytes.subarray(0, bytes.length - 2))).toThrow("truncated");
  });
});

describe("proto codec strings", () => {
  it("keeps a leading byte-order mark in a string field, as protobufjs does (a CI counterexample, seed 1022708849)", () => {
    const name = "shoal.v1.ContainerInfo";
    const codec = codecs(name);
    const bytes = reference.lookupType(name).encode({ name: "\uFEFFx" }).finish();
    expect(codec.decode(bytes).name).toBe("\uFEFFx");
  });
});
