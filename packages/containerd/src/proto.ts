import { fileURLToPath } from "node:url";
import { isAbsolute, join } from "node:path";
import { loadSync } from "@grpc/proto-loader";
import type { MethodDefinition, Options, PackageDefinition } from "@grpc/proto-loader";
import protobuf from "protobufjs";
import type { Any__Output } from "./generated/google/protobuf/Any";
import type { Timestamp__Output } from "./generated/google/protobuf/Timestamp";

/** `proto/` at the repository root; containerd's protos live under `containerd/`. */
const PROTO_DIR = fileURLToPath(new URL("../../../proto", import.meta.url));

const PROTO_FILES = [
  "containerd/services/containers/v1/containers.proto",
  "containerd/services/tasks/v1/tasks.proto",
  "containerd/services/events/v1/events.proto",
  "containerd/events/task.proto",
  "containerd/runc/options/oci.proto",
  "containerd/services/content/v1/content.proto",
  "containerd/services/images/v1/images.proto",
  "containerd/services/snapshots/v1/snapshots.proto",
  "containerd/services/diff/v1/diff.proto",
  "containerd/services/leases/v1/leases.proto",
];

/**
 * Load options shared by the runtime loader and `pnpm gen-types` (package.json): field
 * names camelCase, 64-bit integers as JS numbers (containerd's int64s are sizes and
 * timestamps, far below 2^53), enums as their names, absent fields filled with defaults.
 */
const LOAD_OPTIONS: Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

let packageDefinition: PackageDefinition | undefined;
let root: protobuf.Root | undefined;

function definitions(): PackageDefinition {
  packageDefinition ??= loadSync(PROTO_FILES, LOAD_OPTIONS);
  return packageDefinition;
}

/** The method definition (path, serializers) of `service/method`, e.g. `containerd.services.tasks.v1.Tasks`, `Create`. */
export function methodDefinition<Req, Res>(service: string, method: string): MethodDefinition<Req, Res, Req, Res> {
  const svc = definitions()[service];
  const def = svc !== undefined && !("format" in svc) ? svc[method] : undefined;
  if (def === undefined) throw new Error(`proto: no method ${service}/${method}`);
  // The generated request/response types describe what this definition (de)serializes.
  return def as unknown as MethodDefinition<Req, Res, Req, Res>;
}

/** A protobufjs root over the same files, for payloads carried in `google.protobuf.Any`. */
function protoRoot(): protobuf.Root {
  if (root === undefined) {
    const r = new protobuf.Root();
    r.resolvePath = (_origin, target) => (isAbsolute(target) ? target : join(PROTO_DIR, target));
    r.loadSync(PROTO_FILES, { keepCase: false });
    root = r;
  }
  return root;
}

const CONVERSION = { longs: Number, enums: String, defaults: true } as const;

// google.protobuf.Any keeps its snake_case `type_url` even with keepCase false: protobufjs
// bundles the well-known types as JSON descriptors, which are not re-cased.

/** Encodes `value` as the message `typeName` into an Any whose type URL is the bare name (containerd's convention). */
export function packAny(typeName: string, value: Record<string, unknown>): { type_url: string; value: Buffer } {
  const type = protoRoot().lookupType(typeName);
  const err = type.verify(value);
  if (err !== null) throw new Error(`proto: invalid ${typeName}: ${err}`);
  return { type_url: typeName, value: Buffer.from(type.encode(type.fromObject(value)).finish()) };
}

/** Decodes an Any whose type URL names a message in the loaded protos; undefined for other types. */
export function unpackAny(any: Any__Output): { typeName: string; value: Record<string, unknown> } | undefined {
  const typeName = any.type_url.slice(any.type_url.lastIndexOf("/") + 1);
  let type: protobuf.Type;
  try {
    type = protoRoot().lookupType(typeName);
  } catch {
    return undefined;
  }
  return { typeName, value: type.toObject(type.decode(any.value), CONVERSION) };
}

/** A Timestamp as a Date (millisecond precision); undefined for an absent or zero timestamp. */
export function toDate(ts: Timestamp__Output | { seconds?: unknown; nanos?: unknown } | null | undefined): Date | undefined {
  if (ts === null || ts === undefined) return undefined;
  const seconds = Number(ts.seconds ?? 0);
  const nanos = Number(ts.nanos ?? 0);
  if (seconds <= 0 && nanos === 0) return undefined;
  return new Date(seconds * 1000 + Math.floor(nanos / 1e6));
}
