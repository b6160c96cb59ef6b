// Bundles the four services into services/<svc>/dist/main.mjs (gitignored) for the local
// stack and the e2e tests, then builds the CLI with its own services/cli/build.mjs.
//
// Shoal's own code (services/<svc>/src and every @shoal/* package, all TypeScript) is
// bundled into one ESM file per service, so a service starts without a TypeScript loader.
// Third-party packages stay outside the bundle and are imported by a path relative to the
// bundle: several of them read files next to their own sources at run time (grpc health
// and reflection load .proto files, pino starts workers), which a bundle would break.
// Needs `pnpm install` first. Usage: node scripts/build.mjs [service…]   (from anywhere)
import { execFileSync } from "node:child_process";
import { renameSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// esbuild is a dependency of the CLI package (the root package.json lists none).
const { build } = createRequire(join(root, "services/cli/package.json"))("esbuild");
const ALL = ["api", "scheduler", "mount-manager", "runtime-agent"];
const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!ALL.includes(name) && name !== "cli") {
    console.error(`build: unknown service ${name} (one of ${[...ALL, "cli"].join(", ")})`);
    process.exit(2);
  }
}
const services = wanted.length === 0 ? ALL : ALL.filter((s) => wanted.includes(s));

/** Bare imports other than @shoal/* stay external, as a relative path to the file they resolve to. */
function thirdPartyExternal(outdir) {
  return {
    name: "third-party-external",
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.path.startsWith("@shoal/") || args.path.startsWith("node:") || args.pluginData?.inner) return undefined;
        const resolved = await b.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          importer: args.importer,
          pluginData: { inner: true },
        });
        if (resolved.errors.length > 0) return { errors: resolved.errors };
        if (resolved.external || !resolved.path.startsWith("/")) return { path: args.path, external: true };
        let rel = relative(outdir, resolved.path).split(sep).join("/");
        if (!rel.startsWith(".")) rel = `./${rel}`;
        return { path: rel, external: true };
      });
    },
  };
}

for (const svc of services) {
  const dir = join(root, "services", svc);
  const outdir = join(dir, "dist");
  const outfile = join(outdir, "main.mjs");
  await build({
    entryPoints: [join(dir, "src/main.ts")],
    outfile: `${outfile}.tmp`,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    sourcemap: "inline",
    legalComments: "none",
    logLevel: "warning",
    plugins: [thirdPartyExternal(outdir)],
  });
  // A service started while this runs never reads a half-written file.
  renameSync(`${outfile}.tmp`, outfile);
  console.log(`built ${relative(root, outfile)}`);
}
if (wanted.length === 0 || wanted.includes("cli")) {
  execFileSync(process.execPath, [join(root, "services/cli/build.mjs")], { stdio: "inherit" });
}
