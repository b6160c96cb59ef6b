import type { FieldDescriptor, ProtoDescriptor } from "./proto-descriptor";

/**
 * Protobuf (proto3) wire encoding for the CLI, driven by a ProtoDescriptor instead of
 * generated code, so starting `shoal` loads no protobuf library and compiles nothing.
 *
 * Objects are the shape api-types.ts describes (protobufjs' `toObject` with `longs: String,
 * defaults: true`): snake_case keys; int64/uint64 as decimal strings (numbers and bigints
 * are accepted when encoding); bytes as Uint8Array; unset message fields null; every other
 * field present with its default, except proto3 `optional` fields, which are present only
 * when set. Unknown fields are skipped; packed and unpacked repeated numbers both decode.
 */
export interface MessageCodec {
  encode(value: object): Uint8Array;
  decode(bytes: Uint8Array): Record<string, unknown>;
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

class Writer {
  private chunks: number[] = [];
  private parts: Uint8Array[] = [];
  private length = 0;

  private flush(): void {
    if (this.chunks.length > 0) {
      this.parts.push(Uint8Array.from(this.chunks));
      this.length += this.chunks.length;
      this.chunks = [];
    }
  }
  byte(b: number): void {
    this.chunks.push(b);
  }
  varint(value: bigint): void {
    let v = BigInt.asUintN(64, value);
    while (v > 0x7fn) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
  }
  smallVarint(value: number): void {
    let v = value >>> 0;
    while (v > 0x7f) {
      this.byte((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    this.byte(v);
  }
  tag(id: number, wire: number): void {
    this.smallVarint(id * 8 + wire);
  }
  bytes(data: Uint8Array): void {
    this.smallVarint(data.length);
    this.flush();
    this.parts.push(data);
    this.length += data.length;
  }
  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

class Reader {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly end = buf.length,
  ) {}
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error("protobuf: truncated varint");
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return result;
      shift += 7n;
      if (shift > 63n) throw new Error("protobuf: varint too long");
    }
  }
  /** The low 32 bits of a varint as an unsigned number, without bigints. */
  varint32(): number {
    let result = 0;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= this.end) throw new Error("protobuf: truncated varint");
      const b = this.buf[this.pos++]!;
      if (shift < 32) result |= (b & 0x7f) << shift;
      if (b < 0x80) return result >>> 0;
      if (shift >= 63) throw new Error("protobuf: varint too long");
    }
  }
  lengthDelimited(): Uint8Array {
    const length = this.varint32();
    if (this.pos + length > this.end) throw new Error("protobuf: truncated field");
    const out = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }
  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_I64:
        this.pos += 8;
        break;
      case WIRE_LEN:
        this.lengthDelimited();
        return;
      case WIRE_I32:
        this.pos += 4;
        break;
      default:
        throw new Error(`protobuf: unsupported wire type ${wire}`);
    }
    if (this.pos > this.end) throw new Error("protobuf: truncated field");
  }
}

const textEncoder = new TextEncoder();
// ignoreBOM: a string field that starts with U+FEFF keeps it (the default decoder drops it, as protobufjs does not).
const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

function toBigInt(value: unknown): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number") return BigInt(Math.trunc(value));
  if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value);
  throw new Error(`protobuf: not an integer: ${String(value)}`);
}

function isDefault(field: FieldDescriptor, value: unknown): boolean {
  switch (field.type) {
    case "string":
      return value === "";
    case "bool":
      return value === false;
    case "bytes":
      return (value as Uint8Array).length === 0;
    case "message":
      return false;
    default:
      return toBigInt(value) === 0n;
  }
}

function defaultOf(field: FieldDescriptor): unknown {
  if (field.map) return {};
  if (field.repeated) return [];
  switch (field.type) {
    case "string":
      return "";
    case "bool":
      return false;
    case "bytes":
      return Buffer.alloc(0);
    case "int32":
    case "uint32":
      return 0;
    case "int64":
    case "uint64":
      return "0";
    case "message":
      return null;
  }
}

const isNumeric = (field: FieldDescriptor): boolean =>
  field.type === "int32" || field.type === "int64" || field.type === "uint32" || field.type === "uint64" || field.type === "bool";

/** Codecs for every message of `descriptor`, built lazily per message on first use. */
export function createCodecs(descriptor: ProtoDescriptor): (messageName: string) => MessageCodec {
  const fieldsOf = (name: string): FieldDescriptor[] => {
    const fields = descriptor.messages[name];
    if (fields === undefined) throw new Error(`protobuf: unknown message ${name}`);
    return fields;
  };

  const writeScalar = (w: Writer, field: FieldDescriptor, value: unknown): void => {
    switch (field.type) {
      case "string":
        w.bytes(textEncoder.encode(value as string));
        return;
      case "bytes":
        w.bytes(value as Uint8Array);
        return;
      case "bool":
        w.byte(value ? 1 : 0);
        return;
      case "int32":
      case "uint32":
        // A negative int32 is sign-extended to 64 bits, as protobuf requires.
        w.varint(field.type === "int32" ? BigInt(Math.trunc(Number(value)) | 0) : BigInt(Number(value) >>> 0));
        return;
      case "int64":
      case "uint64":
        w.varint(toBigInt(value));
        return;
      case "message":
        w.bytes(encodeMessage(field.message!, value as Record<string, unknown>));
        return;
    }
  };
  const wireOf = (field: FieldDescriptor): number => (field.type === "string" || field.type === "bytes" || field.type === "message" ? WIRE_LEN : WIRE_VARINT);

  const encodeMessage = (name: string, value: Record<string, unknown>): Uint8Array => {
    const w = new Writer();
    for (const field of fieldsOf(name)) {
      const v = value[field.name];
      if (v === undefined || v === null) continue;
      if (field.map) {
        for (const [key, entry] of Object.entries(v as Record<string, unknown>)) {
          const e = new Writer();
          e.tag(1, WIRE_LEN);
          e.bytes(textEncoder.encode(key));
          const valueField: FieldDescriptor = { ...field, id: 2, map: undefined } as FieldDescriptor;
          e.tag(2, wireOf(valueField));
          writeScalar(e, valueField, entry);
          w.tag(field.id, WIRE_LEN);
          w.bytes(e.finish());
        }
      } else if (field.repeated) {
        const items = v as unknown[];
        if (items.length === 0) continue;
        if (isNumeric(field)) {
          const packed = new Writer();
          for (const item of items) writeScalar(packed, field, item);
          w.tag(field.id, WIRE_LEN);
          w.bytes(packed.finish());
        } else {
          for (const item of items) {
            w.tag(field.id, wireOf(field));
            writeScalar(w, field, item);
          }
        }
      } else {
        if (!field.optional && isDefault(field, v)) continue;
        w.tag(field.id, wireOf(field));
        writeScalar(w, field, v);
      }
    }
    return w.finish();
  };

  const readScalar = (r: Reader, field: FieldDescriptor): unknown => {
    switch (field.type) {
      case "string": {
        const bytes = r.lengthDelimited();
        return textDecoder.decode(bytes);
      }
      case "bytes":
        return Buffer.from(r.lengthDelimited());
      case "bool":
        return r.varint() !== 0n;
      case "int32":
        return r.varint32() | 0;
      case "uint32":
        return r.varint32();
      case "int64":
        return BigInt.asIntN(64, r.varint()).toString();
      case "uint64":
        return BigInt.asUintN(64, r.varint()).toString();
      case "message":
        return decodeMessage(field.message!, r.lengthDelimited());
    }
  };

  const decodeMessage = (name: string, bytes: Uint8Array): Record<string, unknown> => {
    const fields = fieldsOf(name);
    const out: Record<string, unknown> = {};
    for (const field of fields) if (!field.optional) out[field.name] = defaultOf(field);
    const r = new Reader(bytes);
    while (r.pos < r.end) {
      const tag = r.varint32();
      const id = tag >>> 3;
      const wire = tag & 7;
      const field = fields.find((f) => f.id === id);
      if (field === undefined) {
        r.skip(wire);
        continue;
      }
      if (field.map) {
        const entry = new Reader(r.lengthDelimited());
        let key = "";
        const valueField = { ...field, map: undefined } as FieldDescriptor;
        let value = defaultOf(valueField);
        while (entry.pos < entry.end) {
          const t = entry.varint32();
          if (t >>> 3 === 1 && (t & 7) === WIRE_LEN) key = textDecoder.decode(entry.lengthDelimited());
          else if (t >>> 3 === 2) value = readScalar(entry, valueField);
          else entry.skip(t & 7);
        }
        (out[field.name] as Record<string, unknown>)[key] = value;
      } else if (field.repeated) {
        const list = out[field.name] as unknown[];
        if (wire === WIRE_LEN && isNumeric(field)) {
          const packed = new Reader(r.lengthDelimited());
          while (packed.pos < packed.end) list.push(readScalar(packed, field));
        } else {
          list.push(readScalar(r, field));
        }
      } else {
        out[field.name] = readScalar(r, field);
      }
    }
    return out;
  };

  const codecs = new Map<string, MessageCodec>();
  return (messageName) => {
    let codec = codecs.get(messageName);
    if (codec === undefined) {
      fieldsOf(messageName);
      codec = {
        encode: (value) => encodeMessage(messageName, value as Record<string, unknown>),
        decode: (bytes) => decodeMessage(messageName, bytes),
      };
      codecs.set(messageName, codec);
    }
    return codec;
  };
}
