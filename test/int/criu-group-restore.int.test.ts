import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { access, cp, mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildIpcProbe, ensureBusyboxRootfs } from "@shoal/testing";

// An IPC group checkpointed and restored by runc 1.1.5 driven directly (no containerd), with
// CRIU built by ensure_criu (scripts/lib.sh) from Debian's source plus scripts/criu/*.patch.
//
// The owner runs `ipc-probe 0` in its own IPC namespace; the member runs `ipc-probe 1` in the
// owner's (its spec names /proc/<owner pid>/ns/ipc). Both bind one host tmpfs at /dev/shm, so
// they share a System V segment (key 0x5301) and a mapping of /dev/shm/ipc-probe. runc marks
// that bind as external: its contents are not in CRIU's images, so the test saves them after
// the dumps and refills a fresh tmpfs before the restores, as Shoal must. The member is dumped
// first, then the owner; the owner is restored first, then the member with its spec naming the
// restored owner's namespace, which runc hands to CRIU as `--join-ns ipc:<path>`. The member's
// images are used as dumped.
//
// Unpatched CRIU 4.2.1 fails that member restore with "Failed to create shm set: File exists"
// (and, without its ipcns-shm image, "Can't find sysv shmem for 0"); patched, the member attaches
// the segment the owner restored, and both mappings stay shared both ways.

const execFileAsync = promisify(execFile);

const CRIU = "/usr/local/sbin/criu";
const CRIU_STAMP = `${CRIU}.shoal-patches`;
const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The fields of `runc spec`'s config.json this test changes; the rest is kept as runc wrote it. */
interface RuncSpec {
  process: { terminal: boolean; args: string[] };
  root: { path: string; readonly: boolean };
  mounts: Array<{ destination: string; type?: string; source?: string; options?: string[] }>;
  linux: { namespaces: Array<{ type: string; path?: string }>; cgroupsPath?: string };
}

/** One /tmp/ipc-probe.txt: each side's 64-bit slot as seen through each mapping. */
interface ProbeReport {
  sysv: [number, number];
  posix: [number, number];
  ipcns: string;
}

type Role = "owner" | "member";

const tag = randomBytes(3).toString("hex");
const ids: Record<Role, string> = { owner: `criu-owner-${tag}`, member: `criu-member-${tag}` };
let dir: string;
let stateDir: string;
let shmDir: string;
let probe: string;
let busybox: string;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  try {
    await access(CRIU, constants.X_OK);
  } catch (cause) {
    throw new Error(`CRIU is missing at ${CRIU}: run ensure_criu from scripts/lib.sh (\`pnpm test\` does it) to build CRIU with scripts/criu/*.patch`, { cause });
  }
  const { stdout } = await execFileAsync("bash", ["-c", 'source scripts/lib.sh && criu_patch_set'], { cwd: REPO_ROOT });
  const want = stdout.trim();
  const have = (await readFile(CRIU_STAMP, "utf8").catch(() => "none")).trim();
  if (have !== want) {
    throw new Error(`CRIU at ${CRIU} lacks the current scripts/criu patch set (stamp ${have}, want ${want}): run ensure_criu from scripts/lib.sh`);
  }

  dir = await mkdtemp(join(tmpdir(), "shoal-criu-group-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  stateDir = join(dir, "runc-state");
  shmDir = join(dir, "shm");
  await mkdir(stateDir);
  await mkdir(shmDir);
  await mountShmTmpfs();
  cleanups.push(() => execFileAsync("umount", [shmDir]).catch(() => execFileAsync("umount", ["-l", shmDir])));
  probe = await buildIpcProbe(join(dir, "ipc-probe"));
  busybox = await ensureBusyboxRootfs();
});

afterAll(async () => {
  // Last registered first: containers before the tmpfs they bind, the tmpfs before its directory.
  for (const cleanup of cleanups.reverse()) {
    await cleanup().catch((err: unknown) => console.error("cleanup:", err));
  }
});

describe("CRIU group restore (runc, owner + member sharing an IPC namespace)", () => {
  it("restores the member into the restored owner's IPC namespace with System V and POSIX shm still shared", async () => {
    const owner = await makeBundle("owner", 0);
    const member = await makeBundle("member", 1);

    await runc("run-owner", ["run", "-d", "--bundle", owner, ids.owner]);
    const ownerPid = await pidOf(ids.owner);
    await setIpcNamespacePath(member, `/proc/${ownerPid}/ns/ipc`);
    await runc("run-member", ["run", "-d", "--bundle", member, ids.member]);
    const memberPid = await pidOf(ids.member);
    // Shared before anything else happens: each side sees the other's slot move, both ways.
    const before = await waitFor("both probes to see each other's slot", async () => {
      const o = await readReport(ownerPid);
      const m = await readReport(memberPid);
      return o && m && o.sysv[1] > 0 && o.posix[1] > 0 && m.sysv[0] > 0 && m.posix[0] > 0 ? { owner: o, member: m } : undefined;
    });
    expect(before.member.ipcns).toBe(before.owner.ipcns);

    // Member first, then the owner: the member's images carry the shared namespace's segments too.
    await runc("checkpoint-member", ["checkpoint", "--image-path", join(dir, "member.img"), "--work-path", join(dir, "member.dump"), ids.member]);
    await runc("checkpoint-owner", ["checkpoint", "--image-path", join(dir, "owner.img"), "--work-path", join(dir, "owner.dump"), ids.owner]);

    // The /dev/shm bind is external to CRIU: keep its files, and give the restores a fresh tmpfs holding them.
    const saved = join(dir, "shm-saved");
    await mkdir(saved);
    await execFileAsync("cp", ["-a", `${shmDir}/.`, `${saved}/`]);
    await execFileAsync("umount", [shmDir]);
    await mountShmTmpfs();
    await execFileAsync("cp", ["-a", `${saved}/.`, `${shmDir}/`]);
    // Reports written after the restore only: a leftover file would pass for a live probe.
    await rm(join(owner, "rootfs/tmp/ipc-probe.txt"), { force: true });
    await rm(join(member, "rootfs/tmp/ipc-probe.txt"), { force: true });

    await runc("restore-owner", ["restore", "-d", "--bundle", owner, "--image-path", join(dir, "owner.img"), "--work-path", join(dir, "owner.restore"), ids.owner]);
    const restoredOwnerPid = await pidOf(ids.owner);
    await setIpcNamespacePath(member, `/proc/${restoredOwnerPid}/ns/ipc`);
    await runc("restore-member", ["restore", "-d", "--bundle", member, "--image-path", join(dir, "member.img"), "--work-path", join(dir, "member.restore"), ids.member]);
    const restoredMemberPid = await pidOf(ids.member);

    // The patched path ran, and neither failure of unpatched CRIU 4.2.1 occurred.
    const restoreLog = await readFile(join(dir, "member.restore/restore.log"), "utf8");
    expect(restoreLog).toContain(`Added ipc:/proc/${restoredOwnerPid}/ns/ipc join namespace`);
    expect(restoreLog).toContain("Collecting IPC shared memory of the joined IPC namespace");
    expect(restoreLog).not.toContain("Failed to create shm set");
    expect(restoreLog).not.toContain("Can't find sysv shmem");

    const first = await waitFor("both restored probes to write a report", async () => {
      const o = await readReport(restoredOwnerPid);
      const m = await readReport(restoredMemberPid);
      return o && m ? { owner: o, member: m } : undefined;
    });
    await sleep(1000);
    const second = { owner: await readReport(restoredOwnerPid), member: await readReport(restoredMemberPid) };

    expect(first.member.ipcns).toBe(first.owner.ipcns);
    expect(second.owner?.ipcns).toBe(first.owner.ipcns);
    expect(second.member?.ipcns).toBe(first.owner.ipcns);
    // The segment's contents came back with the owner (not a fresh, zeroed segment).
    expect(first.owner.sysv[0]).toBeGreaterThanOrEqual(before.owner.sysv[0]);
    expect(first.owner.sysv[1]).toBeGreaterThanOrEqual(before.owner.sysv[1]);
    // Each side sees both slots move in both mappings: its own writes and the other side's.
    for (const side of ["owner", "member"] as const) {
      const a = first[side];
      const b = second[side];
      if (!b) throw new Error(`the restored ${side}'s report disappeared`);
      for (const kind of ["sysv", "posix"] as const) {
        for (const slot of [0, 1] as const) {
          expect(b[kind][slot], `${side} sees ${kind} slot ${slot} advance (${a[kind][slot]} → ${b[kind][slot]})`).toBeGreaterThan(a[kind][slot]);
        }
      }
    }
  });
});

async function mountShmTmpfs(): Promise<void> {
  await execFileAsync("mount", ["-t", "tmpfs", "-o", "size=4m,mode=1777", "tmpfs", shmDir]);
}

/**
 * A bundle from `runc spec` with a copy of the busybox rootfs plus ipc-probe, the shared tmpfs
 * bound at /dev/shm instead of runc's private one, and the probe's stdio on files inside the
 * container (CRIU cannot dump stdio that is a file on a mount outside it).
 */
async function makeBundle(role: Role, probeRole: 0 | 1): Promise<string> {
  const bundle = join(dir, role);
  await cp(busybox, join(bundle, "rootfs"), { recursive: true, verbatimSymlinks: true });
  await cp(probe, join(bundle, "rootfs/bin/ipc-probe"));
  await execFileAsync("runc", ["spec", "--bundle", bundle]);
  const spec = JSON.parse(await readFile(join(bundle, "config.json"), "utf8")) as RuncSpec;
  spec.process.terminal = false;
  spec.process.args = ["/bin/sh", "-c", `exec /bin/ipc-probe ${probeRole} </dev/null >/tmp/ipc-probe.log 2>&1`];
  spec.root = { path: "rootfs", readonly: false };
  spec.mounts = spec.mounts.filter((m) => m.destination !== "/dev/shm");
  spec.mounts.push({ destination: "/dev/shm", type: "bind", source: shmDir, options: ["rbind", "rw"] });
  spec.linux.cgroupsPath = `/shoal-test-${ids[role]}`;
  await writeFile(join(bundle, "config.json"), JSON.stringify(spec, null, 2));
  cleanups.push(() => execFileAsync("runc", ["--root", stateDir, "delete", "-f", ids[role]]).catch(() => undefined));
  return bundle;
}

async function setIpcNamespacePath(bundle: string, path: string): Promise<void> {
  const file = join(bundle, "config.json");
  const spec = JSON.parse(await readFile(file, "utf8")) as RuncSpec;
  const ipc = spec.linux.namespaces.find((ns) => ns.type === "ipc");
  if (!ipc) throw new Error(`${file} has no ipc namespace`);
  ipc.path = path;
  await writeFile(file, JSON.stringify(spec, null, 2));
}

/**
 * Runs runc with this test's state root and CRIU. Its output goes to a file, not a pipe:
 * `runc run -d` hands its stdio to the container, which would hold a pipe open. On failure
 * the error carries runc's output and the error lines of CRIU's log for that step.
 */
async function runc(step: string, args: string[]): Promise<void> {
  const logPath = join(dir, `runc-${step}.log`);
  const log = await open(logPath, "a");
  let code: number | null;
  try {
    const child = spawn("runc", ["--root", stateDir, "--criu", CRIU, ...args], { stdio: ["ignore", log.fd, log.fd] });
    code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", resolve);
    });
  } finally {
    await log.close();
  }
  if (code === 0) return;
  const output = (await readFile(logPath, "utf8")).trim();
  const workPath = args[args.indexOf("--work-path") + 1];
  const criuLog = args.includes("--work-path") && workPath ? await criuErrors(workPath) : "";
  throw new Error(`runc ${args.join(" ")} exited ${code}: ${output}${criuLog ? `\nCRIU: ${criuLog}` : ""}`);
}

async function criuErrors(workPath: string): Promise<string> {
  for (const name of ["restore.log", "dump.log"]) {
    const text = await readFile(join(workPath, name), "utf8").catch(() => undefined);
    if (text !== undefined) return text.split("\n").filter((l) => l.includes("Error")).join("\n");
  }
  return "";
}

async function pidOf(id: string): Promise<number> {
  const { stdout } = await execFileAsync("runc", ["--root", stateDir, "state", id]);
  const pid = (JSON.parse(stdout) as { pid: number }).pid;
  if (!(pid > 0)) throw new Error(`runc state ${id} has no pid: ${stdout}`);
  return pid;
}

/** The report of the probe whose pid (in this namespace) is `pid`, or undefined while it has none. */
async function readReport(pid: number): Promise<ProbeReport | undefined> {
  const text = await readFile(`/proc/${pid}/root/tmp/ipc-probe.txt`, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  const m = /^sysv (\d+) (\d+)\nposix (\d+) (\d+)\nipcns (\d+)\n$/.exec(text);
  if (!m) throw new Error(`unexpected ipc-probe report from pid ${pid}: ${JSON.stringify(text)}`);
  const n = (i: number) => Number(m[i]);
  return { sysv: [n(1), n(2)], posix: [n(3), n(4)], ipcns: m[5] ?? "" };
}

async function waitFor<T>(what: string, probeOnce: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probeOnce();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
