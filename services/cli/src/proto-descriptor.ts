import { join } from "node:path";
import protobuf from "protobufjs";

/**
 * What the CLI's codec needs to know about `proto/shoal/v1`: each message's fields and each
 * method's path and types. Built from the .proto files with protobufjs — by `build.mjs`
 * once, to embed in the bundle, and by `proto-root.ts` at run time when running from
 * source. Field types the codec does not implement make this throw, so a proto change
 * the CLI cannot carry fails the build instead of a call.
 */
export type ScalarType = "string" | "bytes" | "bool" | "int32" | "int64" | "uint32" | "uint64";

export interface FieldDescriptor {
  name: string;
  id: number;
  /** A scalar type, or "message" with `message` naming the type. */
  type: ScalarType | "message";
  message?: string;
  repeated?: true;
  /** map<string, V>: `type`/`message` describe V. */
  map?: true;
  /** proto3 `optional`: explicit presence (absent stays absent). */
  optional?: true;
}

export interface MethodDescriptor {
  path: string;
  request: string;
  response: string;
  serverStreaming?: true;
  clientStreaming?: true;
}

export interface ProtoDescriptor {
  /** Fully qualified message name (`shoal.v1.ContainerInfo`) → fields. */
  messages: Record<string, FieldDescriptor[]>;
  /** `Service/Method` (`Containers/CreateContainer`) → how to call it. */
  methods: Record<string, MethodDescriptor>;
}

export const PROTO_FILES = ["shoal/v1/containers.proto", "shoal/v1/checkpoints.proto", "shoal/v1/images.proto", "shoal/v1/events.proto", "shoal/v1/hosts.proto", "shoal/v1/config.proto"];
const SCALARS = new Set<string>(["string", "bytes", "bool", "int32", "int64", "uint32", "uint64"]);
const PACKAGE = "shoal.v1";

/** Parses PROTO_FILES under `protoDir` and describes every message and method of package shoal.v1. */
export function describeProtos(protoDir: string): ProtoDescriptor {
  const root = new protobuf.Root();
  // google/protobuf/* ship inside protobufjs; everything else lives under protoDir.
  root.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? target : join(protoDir, target));
  root.loadSync(PROTO_FILES, { keepCase: true });
  root.resolveAll();

  const descriptor: ProtoDescriptor = { messages: {}, methods: {} };
  const describeType = (type: protobuf.Type): void => {
    const name = type.fullName.replace(/^\./, "");
    if (descriptor.messages[name] !== undefined) return;
    const fields: FieldDescriptor[] = [];
    descriptor.messages[name] = fields;
    for (const field of type.fieldsArray) {
      const where = `${name}.${field.name}`;
      const out: FieldDescriptor = { name: field.name, id: field.id, type: "string" };
      if (field.resolvedType instanceof protobuf.Type) {
        out.type = "message";
        out.message = field.resolvedType.fullName.replace(/^\./, "");
        describeType(field.resolvedType);
      } else if (field.resolvedType !== null) {
        throw new Error(`${where}: enums are not supported by the CLI's codec`);
      } else if (SCALARS.has(field.type)) {
        out.type = field.type as ScalarType;
      } else {
        throw new Error(`${where}: field type ${field.type} is not supported by the CLI's codec`);
      }
      if (field instanceof protobuf.MapField) {
        if (field.keyType !== "string") throw new Error(`${where}: only map<string, …> is supported by the CLI's codec`);
        out.map = true;
      } else if (field.repeated) {
        out.repeated = true;
      }
      if (field.options?.proto3_optional === true) out.optional = true;
      else if (field.partOf !== null) throw new Error(`${where}: oneof is not supported by the CLI's codec (proto3 optional is)`);
      fields.push(out);
    }
  };

  const pkg = root.lookup(PACKAGE);
  if (!(pkg instanceof protobuf.Namespace)) throw new Error(`package ${PACKAGE} not found in ${protoDir}`);
  for (const nested of pkg.nestedArray) {
    if (nested instanceof protobuf.Type) describeType(nested);
    if (!(nested instanceof protobuf.Service)) continue;
    for (const method of nested.methodsArray) {
      const request = method.resolvedRequestType!;
      const response = method.resolvedResponseType!;
      describeType(request);
      describeType(response);
      descriptor.methods[`${nested.name}/${method.name}`] = {
        path: `/${PACKAGE}.${nested.name}/${method.name}`,
        request: request.fullName.replace(/^\./, ""),
        response: response.fullName.replace(/^\./, ""),
        ...(method.responseStream ? { serverStreaming: true as const } : {}),
        ...(method.requestStream ? { clientStreaming: true as const } : {}),
      };
    }
  }
  return descriptor;
}
