// npm run bench:checkpoint [-- --runs N] [--quiet-ms MS] — checkpoint and restore with whole
// processes, from ONE run: the time of the checkpoint command(s), of the restore command(s) and
// their sum (p50 over N runs, default 10, after one warm-up round), for two cases:
//
//   A. an idle container: busybox `sleep 1000` from the busybox rootfs directory.
//   B. a group: an owner started --ipc shareable --shm-size 128m that has filled 64 MiB of
//      /dev/shm (dd from /dev/urandom, then sleep), plus one member --ipc container:<owner>
//      running sleep.
//
// and three engines, each container fresh for each run (started, and for B filled, outside the
// timing; removed outside it; the host left quiet for MS ms after each removal and between a
// checkpoint and its restore; the order of the six variants rotates each round):
//
//   1. Shoal: the compiled CLI (services/cli/dist/shoal) against a private stack from
//      test/e2e/stack.ts, `shoal config set experimental=true` first.
//        A: `shoal checkpoint create C NAME` (stops C, as docker does), `shoal start --checkpoint NAME C`
//        B: `shoal checkpoint create --group OWNER NAME`, `shoal start --checkpoint NAME OWNER`
//           (starting the owner restores the whole group)
//   2. podman: Debian's podman with private storage (bench/lib/private-podman.ts), `--runtime runc`
//      (runc runs the criu on PATH; crun would need libcriu built in), `run -d --network none
//      --rootfs DIR` with the ulimits these VMs need.
//        A: `podman container checkpoint C`, `podman container restore C`
//        B: `podman container checkpoint MEMBER OWNER` (one process), then `podman container
//           restore OWNER` and `… restore MEMBER` (the member joins the owner's namespace)
//   3. docker: Debian's dockerd on private sockets started --experimental (bench/lib/private-docker.ts),
//      IMAGE = the same rootfs imported with `docker import`, docker's default network.
//        A: `docker checkpoint create C cp`, `docker start --checkpoint cp C`
//        B: `docker checkpoint create MEMBER cp` + `… OWNER cp`, then `docker start --checkpoint cp
//           OWNER` + `… MEMBER` (docker has no group command: the sum of the processes)
//
// Every engine gets the same CRIU: /usr/local/sbin/criu (≥ 4.2, as setup builds it, with Shoal's
// scripts/criu patches; Debian 12's criu 3.17 fails on these kernels) is put first on PATH before
// anything starts, and runc, podman's and docker's runtime, runs the `criu` it finds there
// (bench/lib/criu.ts).
// After each restore the bench checks it outside the timing: pid 1 of each container is sleep
// again; for B the owner's /dev/shm/fill has the md5 it had before the checkpoint and the member
// is in the owner's IPC namespace and sees the file. An engine whose command fails, or whose
// restore fails that check, "cannot" do the case; the reason is printed with the exact error.
// Targets are read, not enforced: Shoal's sum ≤ 1.0× the faster peer that can do the case; the
// run prints PASS/MISS and exits 0 either way. Everything it starts (stack, dockerd and its
// containerd, podman's containers, the work directory) is removed at the end, on failure and on
// SIGINT/SIGTERM.
import { cp, mkdir, rm, rmdir } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { cpus } from "node:os";
import { startStack, SHOAL_BIN } from "../test/e2e/stack";
import type { E2eStack } from "../test/e2e/stack";
import { withCleanup } from "./lib/cleanup";
import { putWorkingCriuFirst } from "./lib/criu";
import { startPrivateDocker, DOCKER } from "./lib/private-docker";
import { startPrivatePodman, PODMAN, PODMAN_ULIMITS } from "./lib/private-podman";
import { loadAverage, runQuiet, timeProcess } from "./lib/processes";
import { ms, p50, table } from "./lib/stats";

const runsArg = process.argv.indexOf("--runs");
/** Runs per variant: each makes fresh containers (B fills 64 MiB first), about 2 s a variant here. */
const RUNS = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 10;
const quietArg = process.argv.indexOf("--quiet-ms");
/** Pause after each removal and between a checkpoint and its restore, so each command meets a quiet host. */
const QUIET_MS = quietArg >= 0 ? Number(process.argv[quietArg + 1]) : 300;
if (!Number.isInteger(RUNS) || RUNS < 1 || !Number.isInteger(QUIET_MS) || QUIET_MS < 0) {
  console.error("usage: npm run bench:checkpoint [-- --runs N] [--quiet-ms MS]   (N ≥ 1, default 10; MS ≥ 0, default 300)");
  process.exit(2);
}
const WARMUP = 1;
const IMAGE = "shoal-bench/busybox:latest";
const SHM_FILL_MIB = 64;
/** The owner's command: fill /dev/shm, then become sleep (pid 1's comm says when it is ready). */
const FILL = `dd if=/dev/urandom of=/dev/shm/fill bs=1M count=${SHM_FILL_MIB} 2>/dev/null && exec sleep 1000`;
/** docker 20.10 with containerd ≥ 1.5: a restore soon after a checkpoint may hit moby/moby#42900. */
const DOCKER_CONTENT_EXISTS = /failed to upload checkpoint to containerd: commit failed: content sha256:[0-9a-f]+: already exists/;
const tag = randomBytes(3).toString("hex");
const workBase = `/var/lib/shoal-bench/checkpoint-${tag}`;

type CaseId = "A" | "B";
const CASES: Record<CaseId, string> = {
  A: "A idle (sleep 1000)",
  B: `B group (owner + 1 member, ${SHM_FILL_MIB} MiB shm)`,
};
type EngineName = "shoal" | "podman" | "docker";

/** The names of one run's containers: `owner` is the idle container in case A. */
interface Names {
  owner: string;
  member: string;
}

/** One engine's command lines; each inner array is one process's arguments (after the global ones). */
interface Engine {
  readonly name: EngineName;
  readonly command: string;
  readonly globalArgs: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  runIdle(name: string): string[];
  runOwner(name: string): string[];
  runMember(name: string, owner: string): string[];
  checkpoint(c: CaseId, n: Names, checkpoint: string): string[][];
  restore(c: CaseId, n: Names, checkpoint: string): string[][];
  /** Called with each started container's stdout (its id). */
  started?(id: string): void;
  remove(n: Names, c: CaseId): Promise<void>;
  /** A failed command's transient error worth one more try after a pause (counted and reported). */
  retryable?(message: string): boolean;
  /** More about why `args` failed, found outside the timing; undefined when nothing more. */
  explain?(c: CaseId, n: Names, args: readonly string[]): Promise<string | undefined>;
}

type Stage = "setup" | "checkpoint" | "restore" | "check";
class StageError extends Error {
  constructor(
    readonly stage: Stage,
    message: string,
    /** The timed commands' figures when they themselves succeeded (a failed check). */
    readonly timings?: { checkpointMs: number; restoreMs: number },
  ) {
    super(message);
  }
}

interface Outcome {
  checkpoint: number[];
  restore: number[];
  sum: number[];
  /** Set once a command failed: the variant stops. */
  failed?: { stage: Stage; message: string };
  /** Set when the commands succeed but the restored containers fail the check: timed on, for information. */
  incorrect?: string;
  retries: number;
}

const loadAtStart = loadAverage();
const startedAt = new Date();

await withCleanup(async (cleanup) => {
  console.error(`bench:checkpoint — ${RUNS} runs (+${WARMUP} warm-up); load average at start ${loadAtStart}`);
  const criu = await putWorkingCriuFirst();
  console.error(`criu on PATH: ${criu.path} ${criu.version}; starting: private Shoal stack, private dockerd --experimental (+ its containerd), podman with private storage …`);

  // ---- the engines -------------------------------------------------------------------------
  const [stackR, dockerR] = await Promise.allSettled([startStack({ logLevel: "info" }), startPrivateDocker(tag, { experimental: true })]);
  if (stackR.status === "fulfilled") cleanup.push("Shoal stack", () => stackR.value.teardown());
  if (dockerR.status === "fulfilled") cleanup.push("private dockerd", () => dockerR.value.stop());
  if (stackR.status === "rejected") throw stackR.reason;
  if (dockerR.status === "rejected") throw dockerR.reason;
  const stack: E2eStack = stackR.value;
  const docker = dockerR.value;
  cleanup.check();
  // After the dockerd, which refuses to start beside another benchmark's.
  const podman = await startPrivatePodman();
  cleanup.push("podman's containers and storage", () => podman.stop());
  const rootfs = stack.rootfs;

  await mkdir(workBase, { recursive: true });
  cleanup.push("bench work directory", async () => {
    await rm(workBase, { recursive: true, force: true });
    await rmdir("/var/lib/shoal-bench").catch(() => undefined);
  });
  // podman's --rootfs is used in place (runc creates missing mount points in it): copies, one
  // for the idle container and the owner, one for the member.
  const podmanRootfs = [`${workBase}/podman-rootfs`, `${workBase}/podman-rootfs-member`] as const;
  for (const dir of podmanRootfs) await cp(rootfs, dir, { recursive: true, verbatimSymlinks: true });
  await docker.importRootfs(rootfs, IMAGE);

  const cliEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", SHOAL_ADDR: stack.addr };
  // Shoal's checkpoints need the experimental switch; a failure here is reported as Shoal's setup failing.
  const experimental = await stack.cli(["config", "set", "experimental=true"]);
  const shoalSetupError = experimental.code === 0 ? undefined : `shoal config set experimental=true exited ${experimental.code}: ${(experimental.stderr || experimental.stdout).trim()}`;
  const baselineMounts = (await stack.mountsUnderStateRoot()).length;

  const podmanGlobal = [...podman.globalArgs, "--runtime", "runc"];
  const podmanRun = (name: string, dir: string, flags: readonly string[], command: readonly string[]) => [
    "run", "-d", "--network", "none", ...PODMAN_ULIMITS, "--name", name, ...flags, "--rootfs", dir, ...command,
  ];
  const engines: Engine[] = [
    {
      name: "shoal",
      command: SHOAL_BIN,
      globalArgs: [],
      env: cliEnv,
      runIdle: (n) => ["run", "-d", "--name", n, "--rootfs", rootfs, "/bin/sleep", "1000"],
      runOwner: (n) => ["run", "-d", "--name", n, "--rootfs", rootfs, "--ipc", "shareable", "--shm-size", "128m", "/bin/sh", "-c", FILL],
      runMember: (n, owner) => ["run", "-d", "--name", n, "--rootfs", rootfs, "--ipc", `container:${owner}`, "/bin/sleep", "1000"],
      checkpoint: (c, n, cp) => (c === "A" ? [["checkpoint", "create", n.owner, cp]] : [["checkpoint", "create", "--group", n.owner, cp]]),
      restore: (_c, n, cp) => [["start", "--checkpoint", cp, n.owner]],
      async remove(n, c) {
        const r = await stack.cli(["rm", "-f", ...(c === "B" ? [n.member] : []), n.owner]);
        if (r.code !== 0 && r.stderr.trim() !== "" && !/no such container/i.test(r.stderr)) console.error(`\nshoal rm -f: ${r.stderr.trim()}`);
        // Let the mount-manager release the containers' shm before the next timed command.
        const deadline = Date.now() + 5_000;
        while ((await stack.mountsUnderStateRoot()).length > baselineMounts && Date.now() < deadline) await sleep(20);
      },
    },
    {
      name: "podman",
      command: PODMAN,
      globalArgs: podmanGlobal,
      runIdle: (n) => podmanRun(n, podmanRootfs[0], [], ["/bin/sleep", "1000"]),
      runOwner: (n) => podmanRun(n, podmanRootfs[0], ["--ipc", "shareable", "--shm-size", "128m"], ["/bin/sh", "-c", FILL]),
      runMember: (n, owner) => podmanRun(n, podmanRootfs[1], ["--ipc", `container:${owner}`], ["/bin/sleep", "1000"]),
      checkpoint: (c, n) => [["container", "checkpoint", ...(c === "B" ? [n.member] : []), n.owner]],
      restore: (c, n) => [["container", "restore", n.owner], ...(c === "B" ? [["container", "restore", n.member]] : [])],
      started: (id) => podman.track(id),
      async remove(n, c) {
        for (const name of c === "B" ? [n.member, n.owner] : [n.owner]) {
          const r = await runQuiet(PODMAN, [...podmanGlobal, "rm", "-f", "-t", "0", name]);
          if (r.code !== 0 && !/no such container/i.test(r.stderr)) console.error(`\npodman rm -f ${name}: ${r.stderr.trim()}`);
        }
      },
      // podman prints only "criu failed: type RESTORE errno N"; runc's own line says why (at debug level).
      async explain(c, n, args) {
        const r = await runQuiet(PODMAN, [...podmanGlobal, "--log-level", "debug", ...args]);
        const why = r.stderr.split("\n").find((l) => /Error \(criu\//.test(l) && !/level=debug/.test(l))?.replace(/^Error: /, "");
        if (why === undefined) return undefined;
        const ownerPid = c === "B" ? (await runQuiet(PODMAN, [...podmanGlobal, "inspect", "-f", "{{.State.Pid}}", n.owner])).stdout.trim() : "";
        return `${why.trim()}${ownerPid !== "" ? ` (the owner runs as pid ${ownerPid} since its restore)` : ""}`;
      },
    },
    {
      name: "docker",
      command: DOCKER,
      globalArgs: docker.hostArgs,
      runIdle: (n) => ["run", "-d", "--name", n, IMAGE, "/bin/sleep", "1000"],
      runOwner: (n) => ["run", "-d", "--name", n, "--ipc", "shareable", "--shm-size", "128m", IMAGE, "/bin/sh", "-c", FILL],
      runMember: (n, owner) => ["run", "-d", "--name", n, "--ipc", `container:${owner}`, IMAGE, "/bin/sleep", "1000"],
      checkpoint: (c, n, cp) => [...(c === "B" ? [["checkpoint", "create", n.member, cp]] : []), ["checkpoint", "create", n.owner, cp]],
      restore: (c, n, cp) => [["start", "--checkpoint", cp, n.owner], ...(c === "B" ? [["start", "--checkpoint", cp, n.member]] : [])],
      async remove(n, c) {
        const r = await runQuiet(DOCKER, [...docker.hostArgs, "rm", "-f", ...(c === "B" ? [n.member] : []), n.owner]);
        if (r.code !== 0) console.error(`\ndocker rm -f: ${r.stderr.trim()}`);
      },
      retryable: (m) => DOCKER_CONTENT_EXISTS.test(m),
    },
  ];

  // ---- one run of a variant ------------------------------------------------------------------
  const cli = (e: Engine, args: readonly string[]) => timeProcess(e.command, [...e.globalArgs, ...args], e.env === undefined ? {} : { env: e.env });
  const exec = async (e: Engine, name: string, script: string) => (await cli(e, ["exec", name, "/bin/sh", "-c", script])).stdout.trim();
  /** Runs the processes one after another; the sum of their times. */
  const timed = async (e: Engine, c: CaseId, n: Names, stage: Stage, steps: string[][], outcome: Outcome) => {
    let total = 0;
    for (const args of steps) {
      for (let attempt = 1; ; attempt++) {
        try {
          total += (await cli(e, args)).ms;
          break;
        } catch (err) {
          const message = (err as Error).message;
          if (e.retryable?.(message) === true && attempt < 5) {
            outcome.retries++;
            await sleep(1_000);
            continue;
          }
          const more = await e.explain?.(c, n, args).catch(() => undefined);
          throw new StageError(stage, more === undefined ? message : `${message}\nrunc says: ${more}`);
        }
      }
    }
    return total;
  };
  const start = async (e: Engine, args: string[]) => {
    try {
      const id = (await cli(e, args)).stdout.trim().split("\n").pop()!;
      e.started?.(id);
    } catch (err) {
      throw new StageError("setup", (err as Error).message);
    }
  };
  const waitForSleep = async (e: Engine, name: string) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const comm = await exec(e, name, "cat /proc/1/comm").catch((err: Error) => err.message);
      if (comm === "sleep") return;
      if (Date.now() > deadline) throw new StageError("setup", `${name} did not get to sleep within 60 s: ${comm}`);
      await sleep(100);
    }
  };

  let cpSeq = 0;
  const once = async (e: Engine, c: CaseId, round: number, outcome: Outcome) => {
    const n: Names = { owner: `ckpt-${e.name}-${c}-${round}-${c === "A" ? "idle" : "owner"}`, member: `ckpt-${e.name}-${c}-${round}-member` };
    const checkpoint = `cp${++cpSeq}`;
    try {
      let md5Before = "";
      if (c === "A") await start(e, e.runIdle(n.owner));
      else {
        await start(e, e.runOwner(n.owner));
        await waitForSleep(e, n.owner);
        md5Before = (await exec(e, n.owner, "md5sum /dev/shm/fill")).split(" ")[0]!;
        await start(e, e.runMember(n.member, n.owner));
      }
      const checkpointMs = await timed(e, c, n, "checkpoint", e.checkpoint(c, n, checkpoint), outcome);
      if (QUIET_MS > 0) await sleep(QUIET_MS);
      const restoreMs = await timed(e, c, n, "restore", e.restore(c, n, checkpoint), outcome);
      const problem = await checkRestored(e, c, n, md5Before);
      if (problem !== undefined) throw new StageError("check", problem, { checkpointMs, restoreMs });
      return { checkpointMs, restoreMs };
    } finally {
      await e.remove(n, c).catch((err: Error) => console.error(`\n${e.name}: removing ${n.owner}: ${err.message}`));
      if (QUIET_MS > 0) await sleep(QUIET_MS);
    }
  };
  /** What is wrong with the restored containers, or undefined. Outside the timing. */
  const checkRestored = async (e: Engine, c: CaseId, n: Names, md5Before: string): Promise<string | undefined> => {
    const look = (name: string, script: string) => exec(e, name, script).catch((err: Error) => `exec failed: ${err.message}`);
    if (c === "A") {
      const comm = await look(n.owner, "cat /proc/1/comm");
      return comm === "sleep" ? undefined : `the restored container's pid 1 is not sleep: ${comm}`;
    }
    const script = "readlink /proc/1/ns/ipc; cat /proc/1/comm; md5sum /dev/shm/fill 2>&1; true";
    const [ownerNs, ownerComm, ownerMd5] = (await look(n.owner, script)).split("\n");
    const [memberNs, memberComm, memberMd5] = (await look(n.member, script)).split("\n");
    if (ownerComm !== "sleep" || memberComm !== "sleep") return `after the restore pid 1 is owner: ${ownerComm ?? ownerNs}, member: ${memberComm ?? memberNs} (not both sleep)`;
    const sum = (line = "") => (/^[0-9a-f]{32} /.test(line) ? line.slice(0, 32) : line);
    const problems: string[] = [];
    if (sum(ownerMd5) !== md5Before) problems.push(`the owner's ${SHM_FILL_MIB} MiB in /dev/shm are gone: md5sum /dev/shm/fill says "${sum(ownerMd5)}" (before the checkpoint: ${md5Before})`);
    if (memberNs !== ownerNs) problems.push(`the member is not in the owner's IPC namespace (member ${memberNs}, owner ${ownerNs})`);
    else if (sum(memberMd5) !== md5Before) problems.push(`the member does not see the owner's /dev/shm/fill ("${sum(memberMd5)}")`);
    if (problems.length > 0) return `the restore exits 0 and both run again, but ${problems.join("; ")}`;
    return undefined;
  };

  // ---- the interleaved rounds -------------------------------------------------------------
  const variants = engines.flatMap((e) => (["A", "B"] as const).map((c) => ({ e, c, key: `${e.name}/${c}` })));
  const outcomes = new Map<string, Outcome>(variants.map((v) => [v.key, { checkpoint: [], restore: [], sum: [], retries: 0 }]));
  if (shoalSetupError !== undefined) for (const c of ["A", "B"]) outcomes.get(`shoal/${c}`)!.failed = { stage: "setup", message: shoalSetupError };
  const roundStarted = Date.now();
  for (let round = 0; round < WARMUP + RUNS; round++) {
    const measuring = round >= WARMUP;
    for (let i = 0; i < variants.length; i++) {
      const { e, c, key } = variants[(i + round) % variants.length]!;
      const outcome = outcomes.get(key)!;
      if (outcome.failed !== undefined) continue;
      cleanup.check();
      let t: { checkpointMs: number; restoreMs: number } | undefined;
      try {
        t = await once(e, c, round, outcome);
      } catch (err) {
        if (!(err instanceof StageError)) throw err;
        if (err.timings === undefined) {
          outcome.failed = { stage: err.stage, message: err.message };
          process.stderr.write(`\n${key}: ${err.stage} failed: ${err.message.split("\n")[0]}\n`);
          continue;
        }
        outcome.incorrect ??= err.message;
        t = err.timings;
      }
      if (measuring) {
        outcome.checkpoint.push(t.checkpointMs);
        outcome.restore.push(t.restoreMs);
        outcome.sum.push(t.checkpointMs + t.restoreMs);
      }
    }
    const perRound = (Date.now() - roundStarted) / (round + 1);
    const left = Math.round((perRound * (WARMUP + RUNS - round - 1)) / 1000);
    process.stderr.write(`\rround ${round + 1}/${WARMUP + RUNS}${round < WARMUP ? " (warm-up)" : ""}, about ${left} s left   `);
  }
  process.stderr.write("\n");
  const loadAtEnd = loadAverage();
  const versions = {
    docker: (await docker.docker(["version", "--format", "{{.Server.Version}}"])).trim(),
    podman: await podman.version(),
    runc: (await runQuiet("runc", ["--version"])).stdout.split("\n")[0]!.replace(/^runc version /, ""),
    shoal: (await runQuiet(SHOAL_BIN, ["--version"])).stdout.trim(),
  };

  // ---- report ------------------------------------------------------------------------------
  console.log(`\nShoal checkpoint benchmark — ${startedAt.toISOString()}, ${RUNS} runs per variant (+${WARMUP} warm-up), whole processes`);
  console.log(`load average: start ${loadAtStart}, end ${loadAtEnd} (${cpus().length} CPUs); p50 is nearest-rank`);
  console.log(`fresh containers each run, started outside the timing; ${QUIET_MS} ms of quiet (--quiet-ms) between checkpoint and restore`);
  console.log("and after each removal; the order of the variants rotates each round; checkpoint/restore: the sum of the engine's processes");
  const patched = criu.shoalPatchSet === undefined ? "" : ` with Shoal's scripts/criu/*.patch (patch set ${criu.shoalPatchSet.slice(0, 12)})`;
  const debian = criu.debianPackage === undefined ? "Debian's criu package is not installed" : `Debian's criu ${criu.debianPackage} is installed, but its /usr/sbin/criu comes later on PATH`;
  console.log(`\nCRIU: ${criu.path} ${criu.version}${patched}, first on PATH for every engine (${debian})`);
  console.log("how each engine is set up:");
  console.log(`  shoal   ${versions.shoal}: ${SHOAL_BIN} against a private stack from test/e2e/stack.ts (api, scheduler,`);
  console.log("          mount-manager, agent logging at info; Postgres, NATS JetStream, a private containerd), experimental=true;");
  console.log("          A: `checkpoint create C NAME` + `start --checkpoint NAME C`; B: `checkpoint create --group OWNER NAME`");
  console.log("          + `start --checkpoint NAME OWNER` (the owner's start restores the group)");
  console.log(`  podman  podman ${versions.podman} (Debian), private --root/--runroot/--tmpdir, --runtime runc (${versions.runc}), cgroupfs, conmon;`);
  console.log(`          \`run -d --network none ${PODMAN_ULIMITS.join(" ")} --rootfs DIR\` (DIR a copy of the same rootfs);`);
  console.log("          A: `container checkpoint C` + `container restore C`; B: `container checkpoint MEMBER OWNER` (one process)");
  console.log("          + `container restore OWNER` + `container restore MEMBER`");
  console.log(`  docker  dockerd ${versions.docker} (Debian docker.io) --experimental on private sockets and directories, --bridge=none`);
  console.log("          --iptables=false, its own containerd; IMAGE = the same rootfs via `docker import`, default network;");
  console.log("          A: `checkpoint create C cp` + `start --checkpoint cp C`; B: `checkpoint create` MEMBER then OWNER");
  console.log("          + `start --checkpoint` OWNER then MEMBER");

  const can = (o: Outcome) => o.failed === undefined && o.incorrect === undefined && o.sum.length > 0;
  /** Shoal is the subject: where it does not run the case it "failed"; a peer "cannot". */
  const cell = (e: Engine, o: Outcome, values: number[]) => {
    const word = e.name === "shoal" ? "failed" : "cannot";
    return o.failed !== undefined ? word : o.incorrect !== undefined ? `${word} (${ms(p50(values), 0)})` : ms(p50(values));
  };
  const rows: string[][] = [];
  for (const c of ["A", "B"] as const) {
    for (const e of engines) {
      const o = outcomes.get(`${e.name}/${c}`)!;
      rows.push([`${CASES[c]}: ${e.name}`, cell(e, o, o.checkpoint), cell(e, o, o.restore), cell(e, o, o.sum), `${o.sum.length}`]);
    }
  }
  console.log(`\n${table(["case: engine (p50 ms)", "checkpoint", "restore", "sum", "runs"], rows)}`);
  console.log(`("cannot (N)" / "failed (N)": the commands exit 0 but the restored containers fail the check; N is their p50, for information)`);

  const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const cmpRows: string[][] = [];
  const verdicts: string[] = [];
  for (const c of ["A", "B"] as const) {
    const shoal = outcomes.get(`shoal/${c}`)!;
    const peers = engines.filter((e) => e.name !== "shoal" && can(outcomes.get(`${e.name}/${c}`)!));
    // A peer whose commands exit 0 but whose restore fails the check: its figures, for information only.
    const infoRows: string[][] = [];
    for (const e of engines) {
      const o = outcomes.get(`${e.name}/${c}`)!;
      if (e.name === "shoal" || o.incorrect === undefined || !can(shoal)) continue;
      infoRows.push([
        `${c}: shoal / ${e.name} (whose restore fails the check)`,
        ratio(p50(shoal.checkpoint), p50(o.checkpoint)),
        ratio(p50(shoal.restore), p50(o.restore)),
        ratio(p50(shoal.sum), p50(o.sum)),
        "",
        "info",
      ]);
    }
    if (peers.length === 0) {
      cmpRows.push([`${c}: shoal / faster peer (no peer can)`, "-", "-", "-", "", can(shoal) ? "info" : "MISS"], ...infoRows);
      verdicts.push(`${can(shoal) ? "info" : "MISS"} ${CASES[c]}: no peer can do it; Shoal ${can(shoal) ? `does, in ${ms(p50(shoal.sum), 0).trim()} ms (p50 sum)` : "did not run it either"}`);
      continue;
    }
    const faster = peers.reduce((a, b) => (p50(outcomes.get(`${b.name}/${c}`)!.sum) < p50(outcomes.get(`${a.name}/${c}`)!.sum) ? b : a));
    const peer = outcomes.get(`${faster.name}/${c}`)!;
    if (!can(shoal)) {
      cmpRows.push([`${c}: shoal / faster peer (${faster.name})`, "-", "-", "-", "≤ 1.00×", "MISS"], ...infoRows);
      verdicts.push(`MISS ${CASES[c]}: Shoal did not run it (see below); ${faster.name} takes ${ms(p50(peer.sum), 0).trim()} ms (p50 sum)`);
      continue;
    }
    const r = p50(shoal.sum) / p50(peer.sum);
    cmpRows.push([
      `${c}: shoal / faster peer (${faster.name})`,
      ratio(p50(shoal.checkpoint), p50(peer.checkpoint)),
      ratio(p50(shoal.restore), p50(peer.restore)),
      ratio(p50(shoal.sum), p50(peer.sum)),
      "≤ 1.00×",
      verdict(r <= 1),
    ], ...infoRows);
    verdicts.push(`${verdict(r <= 1)} ${CASES[c]}: Shoal ${ratio(p50(shoal.sum), p50(peer.sum))} of ${faster.name} (p50 sum, target ≤ 1.00×)`);
  }
  console.log(`\n${table(["comparison (p50 ratio)", "checkpoint", "restore", "sum", "target (sum)", "verdict"], cmpRows)}`);

  const notes: string[] = [];
  const indent = (text: string) => text.trim().split("\n").join("\n      ");
  for (const { e, c, key } of variants) {
    const o = outcomes.get(key)!;
    const word = e.name === "shoal" ? "failed" : "cannot";
    if (o.failed !== undefined) notes.push(`  ${e.name}, ${CASES[c]}: ${word} (at ${o.failed.stage}): ${indent(o.failed.message)}`);
    else if (o.incorrect !== undefined) notes.push(`  ${e.name}, ${CASES[c]}: ${word}: ${indent(o.incorrect)}`);
    if (o.retries > 0) notes.push(`  ${e.name}, ${CASES[c]}: ${o.retries} restore(s) retried after 1 s on moby/moby#42900 ("content … already exists"); the successful attempt is timed`);
  }
  if (notes.length > 0) console.log(`\nwhat could not be measured, and why (the exact errors):\n${notes.join("\n")}`);
  console.log("");
  for (const v of verdicts) console.log(v);
  console.log("(targets are read, not enforced: a MISS does not fail the run)");
});

function sleep(msecs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, msecs));
}
