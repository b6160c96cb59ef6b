// Bundles the `shoal` CLI into dist/ (shoal.mjs and its lazily loaded chunk; no node_modules
// needed at run time).
// The public API's .proto files are parsed here, once, and embedded as protobufjs JSON in
// place of src/proto-root.ts, so the CLI never parses protos at start.
// Usage: node services/cli/build.mjs   (from anywhere)
import { build } from "esbuild";
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const protoDir = join(here, "../../proto");
const require = createRequire(import.meta.url);
const protobuf = require("protobufjs");

// Keep in step with PROTO_FILES in src/proto-root.ts.
const PROTO_FILES = ["shoal/v1/containers.proto", "shoal/v1/events.proto", "shoal/v1/hosts.proto", "shoal/v1/config.proto"];

function protoJson() {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? target : join(protoDir, target));
  root.loadSync(PROTO_FILES, { keepCase: true });
  root.resolveAll();
  return JSON.stringify(root.toJSON());
}

const embeddedProtoRoot = {
  name: "embedded-proto-root",
  setup(b) {
    b.onResolve({ filter: /^\.\/proto-root$/ }, () => ({ path: "proto-root", namespace: "embedded" }));
    b.onLoad({ filter: /.*/, namespace: "embedded" }, () => ({
      resolveDir: join(here, "src"),
      loader: "js",
      contents: `import protobuf from "protobufjs/light.js";
const json = ${protoJson()};
// Types resolve lazily, on the first call that uses them.
export function loadProtoRoot() { return protobuf.Root.fromJSON(json); }`,
    }));
  },
};

mkdirSync(join(here, "dist"), { recursive: true });
const result = await build({
  entryPoints: [join(here, "src/main.ts")],
  // dist/shoal.mjs plus one chunk with the api client (node:http2, protobufjs, the
  // descriptors), loaded only by commands that call the api: --version and --help
  // never load it.
  outdir: join(here, "dist"),
  entryNames: "shoal",
  chunkNames: "shoal-[name]-[hash]",
  outExtension: { ".js": ".mjs" },
  splitting: true,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  minify: true,
  legalComments: "none",
  metafile: true,
  write: false,
  logLevel: "warning",
  // Bundled CommonJS (protobufjs) calls require().
  banner: { js: "import { createRequire as __shoalRequire } from 'node:module'; const require = __shoalRequire(import.meta.url);" },
  plugins: [embeddedProtoRoot],
});
// Replace dist/ so that a `shoal` running meanwhile never reads a half-written file: chunks
// (content-hashed names) first, then the entry by rename, then the chunks nothing refers to.
const written = new Set();
const entry = result.outputFiles.find((f) => f.path.endsWith("/shoal.mjs"));
for (const file of result.outputFiles) {
  written.add(basename(file.path));
  if (file === entry) continue;
  writeFileSync(file.path, file.contents);
}
writeFileSync(`${entry.path}.tmp`, entry.contents);
renameSync(`${entry.path}.tmp`, entry.path);
for (const name of readdirSync(join(here, "dist"))) {
  if (!written.has(name)) rmSync(join(here, "dist", name), { force: true });
}
if (process.env.SHOAL_BUILD_ANALYZE) { const { analyzeMetafile } = await import("esbuild"); console.log(await analyzeMetafile(result.metafile)); }
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`built ${join(here, "dist/shoal.mjs")} (${Math.round(bytes / 1024)} KiB)`);
