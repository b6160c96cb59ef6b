import { join } from "node:path";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

/**
 * The public API's descriptors (`proto/shoal/v1`). This module parses the .proto files at
 * run time, for running the CLI from source; `build.mjs` replaces it in the bundle with
 * the same descriptors pre-parsed to JSON, so the shipped `shoal` never parses protos.
 */
export const PROTO_FILES = ["shoal/v1/containers.proto", "shoal/v1/events.proto", "shoal/v1/hosts.proto", "shoal/v1/config.proto"];

export function loadProtoRoot(): protobuf.Root {
  const protoDir = fileURLToPath(new URL("../../../proto/", import.meta.url));
  const root = new protobuf.Root();
  // google/protobuf/* ship inside protobufjs; everything else lives under proto/.
  root.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? target : join(protoDir, target));
  root.loadSync(PROTO_FILES, { keepCase: true });
  root.resolveAll();
  return root;
}
