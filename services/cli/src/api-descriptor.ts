import { fileURLToPath } from "node:url";
import { describeProtos } from "./proto-descriptor";
import type { ProtoDescriptor } from "./proto-descriptor";

/**
 * The public API's descriptor (`proto/shoal/v1`). This module parses the .proto files at
 * run time, for running the CLI from source; `build.mjs` replaces it in the bundle with
 * the same descriptor computed at build time, so the shipped `shoal` loads no protobuf
 * library and parses nothing.
 */
export function loadApiDescriptor(): ProtoDescriptor {
  return describeProtos(fileURLToPath(new URL("../../../proto/", import.meta.url)));
}
