/**
 * What a containerd holds of an image, seen from outside through `ctr` and its root directory,
 * for benchmarks that must start each pull cold: blobs on disk (the content store is shared by
 * every namespace, so a blob another namespace still holds would make a pull skip its bytes),
 * and the snapshots and image records of one namespace.
 *
 * `ctr` is Debian's containerd client (`/usr/bin/ctr`, the same release as the daemon).
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import { runQuiet, timeProcess } from "./processes";
import type { ProcessResult } from "./processes";

export const CTR = "/usr/bin/ctr";

export interface ContainerdStore {
  /** `ctr --address SOCKET -n NAMESPACE …` arguments prefix. */
  readonly ctrArgs: (namespace: string) => string[];
  /**
   * `ctr -n NAMESPACE image pull --plain-http REF`, timed as a whole process. ctr 1.6 fetches
   * and unpacks (it has no switch to skip unpacking): the image's snapshots exist when it exits.
   */
  pull(namespace: string, ref: string): Promise<ProcessResult>;
  /** `ctr -n NAMESPACE image rm --sync REF`: the record goes and containerd's GC runs before it returns. */
  removeImage(namespace: string, ref: string): Promise<void>;
  /** Names of the namespace's image records. */
  images(namespace: string): Promise<string[]>;
  /** Number of the namespace's snapshots (every snapshotter's view through the default one, overlayfs). */
  snapshotCount(namespace: string): Promise<number>;
  /** The digests among `digests` whose blob file is on disk, in any namespace. */
  blobsOnDisk(digests: readonly string[]): Promise<string[]>;
}

/**
 * `root` is the containerd's root directory (its `--root`), where blobs live under
 * `io.containerd.content.v1.content/blobs/<algorithm>/<hex>`.
 */
export function containerdStore(socket: string, root: string): ContainerdStore {
  const ctrArgs = (namespace: string) => ["--address", socket, "-n", namespace];
  const lines = (s: string) => s.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const ctr = async (namespace: string, args: readonly string[]) => (await timeProcess(CTR, [...ctrArgs(namespace), ...args], { timeoutMs: 300_000 })).stdout;
  return {
    ctrArgs,
    pull: (namespace, ref) => timeProcess(CTR, [...ctrArgs(namespace), "image", "pull", "--plain-http", ref], { timeoutMs: 300_000 }),
    async removeImage(namespace, ref) {
      await ctr(namespace, ["image", "rm", "--sync", ref]);
    },
    images: async (namespace) => lines(await ctr(namespace, ["image", "ls", "-q"])),
    // `snapshot ls` prints a header line (KEY PARENT KIND).
    snapshotCount: async (namespace) => lines(await ctr(namespace, ["snapshot", "ls"])).length - 1,
    async blobsOnDisk(digests) {
      const present: string[] = [];
      for (const d of digests) {
        const [algorithm, hex] = d.split(":");
        const path = join(root, "io.containerd.content.v1.content", "blobs", algorithm!, hex!);
        if (await access(path).then(() => true, () => false)) present.push(d);
      }
      return present;
    },
  };
}

/** `ctr --version`'s version, e.g. `1.6.20~ds1`. */
export async function ctrVersion(): Promise<string> {
  return (await runQuiet(CTR, ["--version"])).stdout.trim().split(" ").pop() ?? "?";
}
