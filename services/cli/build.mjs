// Bundles the `shoal` CLI into dist/ (shoal.mjs and its lazily loaded chunk; no node_modules
// needed at run time).
// The public API's .proto files are described here, once, and the descriptor is embedded in
// place of src/api-descriptor.ts, so the CLI loads no protobuf library at start.
// Usage: node services/cli/build.mjs   (from anywhere)
import { build } from "esbuild";
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const protoDir = join(here, "../../proto");
// The descriptor comes from src/proto-descriptor.ts (the same code the CLI uses when run
// from source), bundled for this script with protobufjs left external and run once.
async function apiDescriptorJson() {
  const script = join(here, "dist", `.describe-protos-${process.pid}.mjs`);
  await build({
    entryPoints: [join(here, "src/proto-descriptor.ts")],
    outfile: script,
    bundle: true,
    platform: "node",
    format: "esm",
    external: ["protobufjs"],
    logLevel: "warning",
  });
  try {
    const { describeProtos } = await import(pathToFileURL(script).href);
    return JSON.stringify(describeProtos(protoDir));
  } finally {
    rmSync(script, { force: true });
  }
}

const embeddedApiDescriptor = {
  name: "embedded-api-descriptor",
  setup(b) {
    b.onResolve({ filter: /^\.\/api-descriptor$/ }, () => ({ path: "api-descriptor", namespace: "embedded" }));
    b.onLoad({ filter: /.*/, namespace: "embedded" }, async () => ({
      loader: "js",
      contents: `const descriptor = ${await apiDescriptorJson()};
export function loadApiDescriptor() { return descriptor; }`,
    }));
  },
};

mkdirSync(join(here, "dist"), { recursive: true });
const result = await build({
  entryPoints: [join(here, "src/main.ts")],
  // dist/shoal.mjs plus one chunk with the api client (node:http2, the codec, the
  // descriptor), loaded only by commands that call the api: --version and --help
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
  plugins: [embeddedApiDescriptor],
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
