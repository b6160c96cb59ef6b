import { readdirSync } from "node:fs";
import path from "node:path";
import { loadSync } from "@grpc/proto-loader";
import type { Options, PackageDefinition } from "@grpc/proto-loader";
import { InternalError } from "@shoal/domain";

/**
 * The loader options Shoal's api uses: camelCase field names (`keepCase: false`), int64 as
 * decimal strings, enums as names, defaults filled in. Handlers accept int64 input as
 * number, string or Long regardless, so a server loaded with other `longs` still works.
 */
export const SHOAL_PROTO_LOADER_OPTIONS: Readonly<Options> = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** The public API's files, relative to `protoDir` (`shoal/v1/*.proto`), sorted. */
export function shoalProtoFiles(protoDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(path.join(protoDir, "shoal", "v1"));
  } catch (err) {
    throw new InternalError(`no shoal/v1 protos under ${protoDir}`, { cause: err });
  }
  return names
    .filter((n) => n.endsWith(".proto"))
    .sort()
    .map((n) => `shoal/v1/${n}`);
}

/**
 * Loads `<protoDir>/shoal/v1/*.proto` (plus `extra.files`, resolved against `extra.includeDirs`)
 * with SHOAL_PROTO_LOADER_OPTIONS overridden by `extra.options`. InternalError when the folder or a file is missing or invalid.
 */
export function loadShoalProtos(
  protoDir: string,
  extra: { files?: readonly string[]; includeDirs?: readonly string[]; options?: Options } = {},
): PackageDefinition {
  const files = [...shoalProtoFiles(protoDir), ...(extra.files ?? [])];
  try {
    return loadSync(files, {
      ...SHOAL_PROTO_LOADER_OPTIONS,
      ...extra.options,
      includeDirs: [protoDir, ...(extra.includeDirs ?? [])],
    });
  } catch (err) {
    throw new InternalError(`could not load the Shoal protos from ${protoDir}`, { cause: err });
  }
}
