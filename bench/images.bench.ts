// npm run bench:images [-- --pull-runs N] [--run-runs N] [--quiet-ms MS] — pulling and running
// an image with whole processes, from ONE run, all from the same local registry (Debian's
// docker-registry on 127.0.0.1, plain HTTP), each p50 against a baseline measured in the same run:
//
//   1. A cold pull of REGISTRY/big:v1 (buildLargeTestImage: busybox + 5 layers of random bytes,
//      ≥ 100 MiB) by three clients, each pull fetching AND unpacking, so the work is equal:
//        shoal   `shoal pull REF` (the compiled CLI against a private stack, test/e2e/stack.ts):
//                content into the stack's containerd, layers unpacked into overlayfs snapshots
//        docker  `docker pull REF` (a private dockerd, bench/lib/private-docker.ts): layers
//                extracted into its overlay2 store (127.0.0.0/8 registries are insecure by
//                default in Docker, so plain HTTP works without configuration)
//        ctr     `ctr -n shoal-bench-ctr image pull --plain-http REF` against the SAME containerd
//                as Shoal's stack, in its own namespace: ctr 1.6 fetches and unpacks (it has no
//                switch to skip unpacking)
//      Before each timed pull, and checked: the engine holds no image, no layer and no snapshot
//      of it, and no blob of it is on the containerd's disk in any namespace (the content store
//      is shared by namespaces). Removal, outside the timing: `shoal rmi` (containerd GC runs
//      synchronously on the last reference), `ctr image rm --sync`, `docker rmi` + `docker
//      image prune -f`; then `sync` and MS ms of quiet. After each pull the image's snapshots
//      (or overlay2 layers) are checked to exist, so every peer really unpacked.
//      Target: shoal pull ≤ 1.0× the faster peer (p50).
//   2. `shoal run -d REF 'sleep 30'` vs `docker run -d REF 'sleep 30'` with the image already
//      present in each (pulled once, untimed; the image's entrypoint is `/bin/sh -c`, so the one
//      argument is the shell's command). dockerd runs --bridge=none --iptables=false: containers
//      on its default network get loopback only, its fastest start here. Each container is
//      checked running, then removed (`rm -f`), outside the timing.
//      Target: shoal run -d ≤ 0.8× docker run -d (p50).
//
// Peers alternate, the order rotating each round, so machine load falls on each alike. Targets
// are read, not enforced: each line says "target met" or "target missed" and the run exits 0
// either way. Everything it starts (stack, registry, dockerd and its containerd) is removed at
// the end, on failure and on SIGINT/SIGTERM.
import { readdir } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { cpus } from "node:os";
import { join } from "node:path";
import { buildLargeTestImage, pushTestImage, startRegistry } from "../packages/testing/src/index";
import type { TestImage } from "../packages/testing/src/index";
import { startStack, SHOAL_BIN } from "../test/e2e/stack";
import type { E2eStack } from "../test/e2e/stack";
import { withCleanup } from "./lib/cleanup";
import { containerdStore, ctrVersion } from "./lib/containerd-store";
import { startPrivateDocker, DOCKER } from "./lib/private-docker";
import type { PrivateDocker } from "./lib/private-docker";
import { loadAverage, runQuiet, timeProcess } from "./lib/processes";
import { mean, ms, p50, table } from "./lib/stats";

const USAGE = "usage: npm run bench:images [-- --pull-runs N] [--run-runs N] [--quiet-ms MS]   (N ≥ 1; MS ≥ 0)";
function intArg(flag: string, fallback: number): number {
  const i = process.argv.indexOf(flag);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 0) {
    console.error(USAGE);
    process.exit(2);
  }
  return v;
}
/**
 * Timed cold pulls per peer (after one warm-up round). Each moves ≥ 100 MiB through a registry, a
 * client and a store: a round of three took about 10 s on the 2-core VM with its removals and
 * quiet, so 9 (+1) rounds and the runs below keep the whole bench near 3 minutes.
 */
const PULL_RUNS = intArg("--pull-runs", 9);
/** Timed `run -d` per peer (after two warm-up rounds): a round of two took about 3 s. */
const RUN_RUNS = intArg("--run-runs", 20);
/** Quiet after each removal (and its `sync`), so the next timed command meets a settled host. */
const QUIET_MS = intArg("--quiet-ms", 500);
if (PULL_RUNS < 1 || RUN_RUNS < 1) {
  console.error(USAGE);
  process.exit(2);
}
const PULL_WARMUP = 1;
const RUN_WARMUP = 2;
const CTR_NAMESPACE = "shoal-bench-ctr";
/** The agent's containerd namespace (services/runtime-agent). */
const SHOAL_NAMESPACE = "shoal";
const RUN_COMMAND = "sleep 30";
const tag = randomBytes(3).toString("hex");

type PullPeer = "shoal pull" | "docker pull" | "ctr image pull";
type RunPeer = "shoal run -d" | "docker run -d";

interface Peer<N extends string> {
  name: N;
  /** Checks the engine is in the state a timed command expects; throws naming what is wrong. */
  before(): Promise<void>;
  /** The timed whole process; returns its ms and what to do after it, outside the timing. */
  timed(): Promise<{ ms: number; after: () => Promise<void> }>;
}

const loadAtStart = loadAverage();
const startedAt = Date.now();

await withCleanup(async (cleanup) => {
  console.error(`bench:images — ${PULL_RUNS} cold pulls (+${PULL_WARMUP} warm-up) and ${RUN_RUNS} runs (+${RUN_WARMUP} warm-up) per peer; load average ${loadAtStart}`);
  console.error("starting: private Shoal stack, private dockerd (+ its containerd), a local registry; building the large image …");

  // ---- the engines, the registry and the image ----------------------------------------------
  const [stackR, dockerR, registryR, imageR] = await Promise.allSettled([startStack({ logLevel: "info" }), startPrivateDocker(tag), startRegistry(), buildLargeTestImage()]);
  if (stackR.status === "fulfilled") cleanup.push("Shoal stack", () => stackR.value.teardown());
  if (dockerR.status === "fulfilled") cleanup.push("private dockerd", () => dockerR.value.stop());
  if (registryR.status === "fulfilled") cleanup.push("registry", () => registryR.value.stop());
  for (const r of [stackR, dockerR, registryR, imageR]) if (r.status === "rejected") throw r.reason;
  const stack = (stackR as PromiseFulfilledResult<E2eStack>).value;
  const docker = (dockerR as PromiseFulfilledResult<PrivateDocker>).value;
  const registry = (registryR as PromiseFulfilledResult<Awaited<ReturnType<typeof startRegistry>>>).value;
  const image = (imageR as PromiseFulfilledResult<TestImage>).value;
  cleanup.check();

  await pushTestImage(registry, "big", image, { tag: "v1" });
  const ref = `${registry.host}/big:v1`;
  const layerCount = image.layers.length;
  const blobBytes = image.layers.reduce((s, l) => s + l.descriptor.size, 0);
  const unpackedBytes = image.layers.reduce((s, l) => s + l.tar.length, 0);
  const digests = [image.manifestDescriptor.digest, image.configDescriptor.digest, ...image.layers.map((l) => l.descriptor.digest)];

  // The stack's containerd root: test containerds keep it at <base>/root (packages/testing's startTestContainerd).
  const store = containerdStore(stack.containerd.socket, join(stack.containerd.directories[0]!, "root"));
  const cliEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", SHOAL_ADDR: stack.addr };
  const shoal = (args: readonly string[]) => timeProcess(SHOAL_BIN, args, { env: cliEnv, timeoutMs: 300_000 });
  const dockerRoot = (await docker.docker(["info", "--format", "{{.DockerRootDir}}"])).trim();
  const dockerDriver = (await docker.docker(["info", "--format", "{{.Driver}}"])).trim();
  /** Layer directories in dockerd's graph driver store (overlay2 keeps a `l` directory of short links beside them). */
  const dockerLayerDirs = async () => (await readdir(join(dockerRoot, dockerDriver)).catch(() => [] as string[])).filter((n) => n !== "l").length;
  const dockerBaselineLayers = await dockerLayerDirs();

  const noBlobsOnDisk = async (who: string) => {
    const left = await store.blobsOnDisk(digests);
    if (left.length > 0) throw new Error(`before ${who}: ${left.length} blob(s) of the image still on containerd's disk (${left.map((d) => d.slice(7, 19)).join(", ")})`);
  };
  const coldNamespace = async (who: string, namespace: string) => {
    await noBlobsOnDisk(who);
    const images = await store.images(namespace);
    const snapshots = await store.snapshotCount(namespace);
    if (images.length > 0 || snapshots > 0) throw new Error(`before ${who}: containerd namespace ${namespace} still holds ${images.length} image(s) and ${snapshots} snapshot(s)`);
  };
  const unpackedInNamespace = async (who: string, namespace: string) => {
    const snapshots = await store.snapshotCount(namespace);
    const missing = await store.blobsOnDisk(digests).then((present) => digests.length - present.length);
    if (snapshots < layerCount || missing > 0) throw new Error(`after ${who}: namespace ${namespace} holds ${snapshots} snapshot(s) for ${layerCount} layers, ${missing} blob(s) missing`);
  };
  const settle = async () => {
    await runQuiet("sync", []);
    if (QUIET_MS > 0) await sleep(QUIET_MS);
  };

  // ---- 1. cold pulls -----------------------------------------------------------------------
  const pullPeers: Peer<PullPeer>[] = [
    {
      name: "shoal pull",
      before: () => coldNamespace("shoal pull", SHOAL_NAMESPACE),
      async timed() {
        const r = await shoal(["pull", ref]);
        return {
          ms: r.ms,
          after: async () => {
            await unpackedInNamespace("shoal pull", SHOAL_NAMESPACE);
            await shoal(["rmi", ref]);
          },
        };
      },
    },
    {
      name: "docker pull",
      async before() {
        await noBlobsOnDisk("docker pull");
        const images = (await docker.docker(["image", "ls", "-aq"])).trim();
        const layers = await dockerLayerDirs();
        if (images !== "" || layers !== dockerBaselineLayers) throw new Error(`before docker pull: dockerd still holds images [${images.split("\n").join(", ")}] and ${layers - dockerBaselineLayers} layer director(ies)`);
      },
      async timed() {
        const r = await timeProcess(DOCKER, [...docker.hostArgs, "pull", ref], { timeoutMs: 300_000 });
        return {
          ms: r.ms,
          after: async () => {
            const layers = (await dockerLayerDirs()) - dockerBaselineLayers;
            if (layers < layerCount) throw new Error(`after docker pull: ${layers} layer directories in ${dockerDriver} for ${layerCount} layers`);
            await docker.docker(["rmi", ref]);
            await docker.docker(["image", "prune", "-f"]);
          },
        };
      },
    },
    {
      name: "ctr image pull",
      before: () => coldNamespace("ctr image pull", CTR_NAMESPACE),
      async timed() {
        const r = await store.pull(CTR_NAMESPACE, ref);
        return {
          ms: r.ms,
          after: async () => {
            await unpackedInNamespace("ctr image pull", CTR_NAMESPACE);
            await store.removeImage(CTR_NAMESPACE, ref);
          },
        };
      },
    },
  ];
  const pulls = await rounds("pull", pullPeers, PULL_WARMUP, PULL_RUNS, cleanup.check, settle);

  // ---- 2. run -d with the image present ------------------------------------------------------
  await shoal(["pull", ref]);
  await docker.docker(["pull", ref]);
  const baselineMounts = (await stack.mountsUnderStateRoot()).length;
  let dockerNetwork = "";
  const runPeers: Peer<RunPeer>[] = [
    {
      name: "shoal run -d",
      before: async () => undefined,
      async timed() {
        const r = await shoal(["run", "-d", ref, RUN_COMMAND]);
        const id = r.stdout.trim().split("\n").pop()!;
        return {
          ms: r.ms,
          after: async () => {
            const running = (await shoal(["ps", "-q"])).stdout;
            if (!running.includes(id.slice(0, 12))) throw new Error(`shoal run -d ${ref} '${RUN_COMMAND}': container ${id} is not running (shoal ps -q: ${running.trim() || "empty"})`);
            await shoal(["rm", "-f", id]);
            // Let the mount-manager release the container's shm before the next timed start.
            const deadline = Date.now() + 5_000;
            while ((await stack.mountsUnderStateRoot()).length > baselineMounts && Date.now() < deadline) await sleep(20);
          },
        };
      },
    },
    {
      name: "docker run -d",
      before: async () => undefined,
      async timed() {
        const r = await timeProcess(DOCKER, [...docker.hostArgs, "run", "-d", ref, RUN_COMMAND]);
        const id = r.stdout.trim();
        return {
          ms: r.ms,
          after: async () => {
            const state = (await docker.docker(["inspect", "-f", "{{.State.Running}} {{.HostConfig.NetworkMode}}", id])).trim();
            if (!state.startsWith("true ")) throw new Error(`docker run -d ${ref} '${RUN_COMMAND}': container ${id} is not running`);
            dockerNetwork = state.split(" ")[1]!;
            await docker.docker(["rm", "-f", id]);
          },
        };
      },
    },
  ];
  const runs = await rounds("run", runPeers, RUN_WARMUP, RUN_RUNS, cleanup.check, settle);

  // ---- report --------------------------------------------------------------------------------
  const versions = {
    shoal: (await runQuiet(SHOAL_BIN, ["--version"])).stdout.trim(),
    docker: (await docker.docker(["version", "--format", "{{.Server.Version}}"])).trim(),
    containerd: (await runQuiet("containerd", ["--version"])).stdout.trim().split(" ")[2] ?? "?",
    ctr: await ctrVersion(),
    registry: (await runQuiet("docker-registry", ["--version"])).stdout.trim().split(" ").pop() ?? "?",
    runc: (await runQuiet("runc", ["--version"])).stdout.split("\n")[0]!.replace(/^runc version /, ""),
  };
  const MiB = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
  console.log(`\nShoal images benchmark — ${new Date(startedAt).toISOString()}, whole processes, p50 nearest-rank`);
  console.log(`load average: start ${loadAtStart}, end ${loadAverage()} (${cpus().length} CPUs); took ${Math.round((Date.now() - startedAt) / 1000)} s`);
  console.log(`image: ${ref} — ${layerCount} layers (busybox + ${layerCount - 1} of random bytes), ${MiB(blobBytes)} of gzip'd blobs, ${MiB(unpackedBytes)} unpacked`);
  console.log(`registry: Debian docker-registry ${versions.registry} on ${registry.host}, plain HTTP, filesystem storage`);
  console.log("\nhow each peer is set up:");
  console.log(`  shoal   ${versions.shoal}: ${SHOAL_BIN} against a private stack (test/e2e/stack.ts: api, scheduler,`);
  console.log(`          mount-manager, agent at log level info; Postgres, NATS), the agent on a private containerd ${versions.containerd}`);
  console.log(`          (overlayfs snapshotter, runc ${versions.runc}); pull = content + unpack into snapshots, 3 layers at a time`);
  console.log(`  docker  dockerd ${versions.docker} (Debian docker.io) on private sockets and directories, its own containerd,`);
  console.log(`          storage driver ${dockerDriver}, started --bridge=none --iptables=false --ip-masq=false; pull = download +`);
  console.log(`          extract (max-concurrent-downloads 3, its default); run on the default network (NetworkMode "${dockerNetwork}": loopback only)`);
  console.log(`  ctr     ctr ${versions.ctr} against the SAME containerd as Shoal's stack, namespace ${CTR_NAMESPACE}: \`image pull --plain-http\``);
  console.log("          = fetch + unpack into overlayfs snapshots (ctr's default concurrency)");
  console.log(`  cold    before each timed pull: no image, layer or snapshot in that engine and no blob of the image on`);
  console.log(`          containerd's disk (checked); removal (shoal rmi / ctr image rm --sync / docker rmi + image prune -f), sync`);
  console.log(`          and ${QUIET_MS} ms of quiet happen outside the timing; the registry's files are in the page cache for all alike`);
  console.log(`  run     \`run -d ${ref} '${RUN_COMMAND}'\` (entrypoint /bin/sh -c) with the image present; checked running, then rm -f, outside the timing`);

  const row = (name: string, s: readonly number[]) => [name, ms(p50(s)), ms(Math.min(...s)), ms(Math.max(...s)), ms(mean(s)), String(s.length)];
  console.log(`\n${table(["variant (ms)", "p50", "min", "max", "mean", "runs"], [
    ...pullPeers.map((p) => row(p.name, pulls.get(p.name)!)),
    ...runPeers.map((p) => row(p.name, runs.get(p.name)!)),
  ])}`);

  const P = (m: Map<string, number[]>, n: string) => p50(m.get(n)!);
  const fasterPullPeer: PullPeer = P(pulls, "docker pull") <= P(pulls, "ctr image pull") ? "docker pull" : "ctr image pull";
  const ratio = (r: number) => `${r.toFixed(2)}×`;
  /** p50 of the per-round ratios a[i] / b[i]: the two ran in the same round, so slow drift in load cancels. */
  const paired = (m: Map<string, number[]>, a: string, b: string) => p50(m.get(a)!.map((x, i) => x / m.get(b)![i]!));
  const verdict = (ok: boolean) => (ok ? "target met" : "target missed");
  const compare = (m: Map<string, number[]>, a: string, b: string, label: string, target?: number) => {
    const r = P(m, a) / P(m, b);
    return [label, ratio(r), ratio(paired(m, a, b)), target === undefined ? "" : `≤ ${target.toFixed(2)}×`, target === undefined ? "info" : verdict(r <= target)];
  };
  console.log(`\n${table(["comparison", "ratio of p50s", "paired p50", "target", "verdict"], [
    compare(pulls, "shoal pull", fasterPullPeer, `shoal pull / faster peer (${fasterPullPeer})`, 1),
    compare(pulls, "shoal pull", "docker pull", "shoal pull / docker pull"),
    compare(pulls, "shoal pull", "ctr image pull", "shoal pull / ctr image pull"),
    compare(runs, "shoal run -d", "docker run -d", "shoal run -d / docker run -d", 0.8),
  ])}`);
  console.log("(the verdict reads the ratio of p50s; paired p50: the median of the per-round ratios, for information)");
  console.log("(targets are read, not enforced: a missed target does not fail the run)");
});

/**
 * Runs `warmup + runs` rounds of every peer, the order rotating each round: `before` (checked),
 * the timed process, its `after`, then `settle`. Returns each peer's timed samples (warm-up dropped).
 */
async function rounds<N extends string>(
  what: string,
  peers: readonly Peer<N>[],
  warmup: number,
  runs: number,
  check: () => void,
  settle: () => Promise<void>,
): Promise<Map<N, number[]>> {
  const samples = new Map<N, number[]>(peers.map((p) => [p.name, []]));
  const started = Date.now();
  for (let round = 0; round < warmup + runs; round++) {
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[(i + round) % peers.length]!;
      check();
      await peer.before();
      const r = await peer.timed();
      await r.after();
      if (round >= warmup) samples.get(peer.name)!.push(r.ms);
      await settle();
    }
    const left = Math.round((((Date.now() - started) / (round + 1)) * (warmup + runs - round - 1)) / 1000);
    process.stderr.write(`\r${what} round ${round + 1}/${warmup + runs}${round < warmup ? " (warm-up)" : ""}, about ${left} s left   `);
  }
  process.stderr.write("\n");
  return samples;
}

function sleep(msecs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, msecs));
}
