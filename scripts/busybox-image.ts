// `npm start`'s image for the quick start (no registry is reachable here): busybox-static as
// a one-layer image `busybox:latest` (Cmd ["sh"], as Docker Hub's), written as a
// `docker save` archive for `shoal load -i`. Usage: tsx scripts/busybox-image.ts OUT.tar
import { mkdir, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { buildTestImage, writeDockerSaveArchive } from "@shoal/testing";

const out = process.argv[2];
if (out === undefined) {
  console.error("usage: tsx scripts/busybox-image.ts OUT.tar");
  process.exit(2);
}
const image = await buildTestImage({
  layersOnBusybox: [],
  config: {
    Entrypoint: undefined,
    Cmd: ["sh"],
    Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    WorkingDir: undefined,
    User: undefined,
    StopSignal: undefined,
  },
});
await mkdir(dirname(out), { recursive: true });
await writeDockerSaveArchive(image, `${out}.partial`, { repoTags: ["busybox:latest"] });
await rename(`${out}.partial`, out);
console.log(out);
