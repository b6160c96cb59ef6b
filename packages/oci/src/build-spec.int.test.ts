// Runs specs from buildSpec under the real runc (no containerd), one per IPC mode, and
// checks from inside the container what DESIGN.md's IPC table promises. The package
// itself does no I/O; this test proves its output is a spec runc accepts and obeys.
import { execFile, spawnSync } from "node:child_process";
import { chmod, copyFile, mkdir, mkdtemp, readdir, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IpcPlan } from "@shoal/domain";
import { buildSpec, type BuildSpecInput } from "./build-spec";
import { rroSupport } from "./with-bind-mounts";

const run = promisify(execFile);
const RUNC = "/usr/sbin/runc";
const BUSYBOX = "/usr/bin/busybox";
const CGROUP_PREFIX = `shoal-oci-int-${process.pid}`;

let dir = "";
let runcRoot = "";
let rootfs = "";
let hostShm = ""; // a host tmpfs standing in for an owner's <state-root>/containers/<id>/mounts/shm
let roSource = ""; // a host dir with a tmpfs submount, for rro
const hostShmMarker = `/dev/shm/shoal-oci-int-${process.pid}`;
const mounted: string[] = [];
const started: string[] = [];
let seq = 0;

function newId(): string {
  return `ociint${process.pid}x${++seq}`;
}

async function mountTmpfs(target: string): Promise<void> {
  await mkdir(target, { recursive: true });
  await run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m,mode=1777,nosuid,nodev,noexec", "--", "shm", target]);
  mounted.push(target);
}

async function bundleFor(id: string, input: Partial<BuildSpecInput> & { ipc: IpcPlan; script: string }): Promise<string> {
  const bundle = join(dir, "bundles", id);
  await mkdir(bundle, { recursive: true });
  // runc wants bundle/rootfs to be a real directory: bind the shared busybox tree there (as containerd mounts rootfs).
  await mkdir(join(bundle, "rootfs"));
  await run("/bin/mount", ["--bind", "--", rootfs, join(bundle, "rootfs")]);
  mounted.push(join(bundle, "rootfs"));
  const { script, ...rest } = input;
  const spec = buildSpec({
    id,
    process: { args: ["/bin/sh", "-c", script] },
    apparmorEnabled: false,
    cgroupPrefix: CGROUP_PREFIX,
    readonlyRootfs: true,
    ...rest,
  });
  await writeFile(join(bundle, "config.json"), JSON.stringify(spec));
  return bundle;
}

/** Runs a container to completion and returns its stdout. */
async function runContainer(input: Partial<BuildSpecInput> & { ipc: IpcPlan; script: string }): Promise<string> {
  const id = newId();
  const bundle = await bundleFor(id, input);
  try {
    const { stdout } = await run(RUNC, ["--root", runcRoot, "run", "--bundle", bundle, id]);
    return stdout;
  } finally {
    await run(RUNC, ["--root", runcRoot, "delete", "--force", id]).catch(() => undefined);
  }
}

function nsOfPid(pid: number | "self"): Promise<string> {
  return readlink(`/proc/${pid}/ns/ipc`);
}

/** Lines of the container's own mountinfo for /dev/shm, and its ipc namespace. */
const PROBE =
  "readlink /proc/self/ns/ipc; grep ' /dev/shm ' /proc/self/mountinfo || echo no-shm-mount; cat /dev/shm/hello 2>/dev/null || echo no-hello";

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("oci int tests run runc and need root");
  for (const tool of [RUNC, BUSYBOX]) {
    if (!existsSync(tool)) throw new Error(`${tool} is missing: apt-get install -y runc busybox-static`);
  }
  dir = await mkdtemp(join(tmpdir(), "shoal-oci-int-"));
  runcRoot = join(dir, "runc");
  rootfs = join(dir, "rootfs");
  await mkdir(join(rootfs, "bin"), { recursive: true });
  for (const d of ["proc", "sys", "dev", "tmp", "data", "etc"]) await mkdir(join(rootfs, d), { recursive: true });
  await copyFile(BUSYBOX, join(rootfs, "bin", "busybox"));
  await chmod(join(rootfs, "bin", "busybox"), 0o755);
  for (const applet of ["sh", "cat", "grep", "readlink", "sleep", "echo", "touch", "ls"]) {
    await symlink("busybox", join(rootfs, "bin", applet));
  }
  hostShm = join(dir, "owner", "mounts", "shm");
  await mountTmpfs(hostShm);
  await writeFile(join(hostShm, "hello"), "from-owner-shm\n");
  roSource = join(dir, "ro-src");
  await mountTmpfs(join(roSource, "sub"));
});

afterAll(async () => {
  for (const id of started) await run(RUNC, ["--root", runcRoot, "delete", "--force", id]).catch(() => undefined);
  for (const target of mounted.reverse()) spawnSync("/bin/umount", ["-l", target]);
  await rm(hostShmMarker, { force: true });
  if (dir) await rm(dir, { recursive: true, force: true });
  for (const controller of await readdir("/sys/fs/cgroup").catch(() => [])) {
    await rm(join("/sys/fs/cgroup", controller, CGROUP_PREFIX), { recursive: false, force: true }).catch(() =>
      spawnSync("/bin/rmdir", [join("/sys/fs/cgroup", controller, CGROUP_PREFIX)]),
    );
  }
});

describe("buildSpec under real runc", () => {
  it("private: own ipc namespace, /dev/shm a tmpfs of the planned size", async () => {
    const out = await runContainer({ ipc: { mode: "private", shmSizeBytes: 2 * 1024 * 1024 }, script: PROBE });
    const [ns, shmLine, hello] = out.trim().split("\n");
    expect(ns).not.toBe(await nsOfPid("self"));
    expect(shmLine).toMatch(/ - tmpfs shm rw,.*size=2048k/);
    expect(shmLine).toMatch(/nosuid,nodev,noexec/);
    expect(hello).toBe("no-hello");
  });

  it("shareable: own ipc namespace, /dev/shm is the host shm tmpfs", async () => {
    const out = await runContainer({ ipc: { mode: "shareable", shmSizeBytes: 1048576, shmMountPath: hostShm }, script: PROBE });
    const [ns, shmLine, hello] = out.trim().split("\n");
    expect(ns).not.toBe(await nsOfPid("self"));
    expect(shmLine).toMatch(/ \/dev\/shm rw,nosuid,nodev,noexec/);
    expect(hello).toBe("from-owner-shm");
  });

  it("none: own ipc namespace and no /dev/shm mount at all", async () => {
    const out = await runContainer({ ipc: { mode: "none" }, script: PROBE });
    const [ns, shmLine] = out.trim().split("\n");
    expect(ns).not.toBe(await nsOfPid("self"));
    expect(shmLine).toBe("no-shm-mount");
  });

  it("host: the host's ipc namespace and the host's /dev/shm", async () => {
    await writeFile(hostShmMarker, "from-host\n");
    const out = await runContainer({
      ipc: { mode: "host" },
      script: `readlink /proc/self/ns/ipc; cat /dev/shm/${hostShmMarker.split("/").pop()}`,
    });
    const [ns, marker] = out.trim().split("\n");
    expect(ns).toBe(await nsOfPid("self"));
    expect(marker).toBe("from-host");
  });

  it("container: a member joins the running owner's ipc namespace and sees its shm", async () => {
    const ownerId = newId();
    const bundle = await bundleFor(ownerId, {
      ipc: { mode: "shareable", shmSizeBytes: 1048576, shmMountPath: hostShm },
      script: "exec sleep 600",
    });
    started.push(ownerId);
    // The owner's stdio is /dev/null and a file: a pipe would stay open as long as the owner lives.
    const errFile = join(dir, `${ownerId}.stderr`);
    const errFd = openSync(errFile, "w");
    const created = spawnSync(RUNC, ["--root", runcRoot, "create", "--bundle", bundle, ownerId], {
      stdio: ["ignore", "ignore", errFd],
      timeout: 60_000,
    });
    closeSync(errFd);
    if (created.status !== 0) {
      throw new Error(`runc create of the owner failed: ${readFileSync(errFile, "utf8") || String(created.error)}`);
    }
    await run(RUNC, ["--root", runcRoot, "start", ownerId]);
    const state = JSON.parse((await run(RUNC, ["--root", runcRoot, "state", ownerId])).stdout) as { pid: number };

    const out = await runContainer({
      ipc: { mode: "container", ownerId, ownerPid: state.pid, shmSizeBytes: 1048576, shmMountPath: hostShm },
      script: PROBE,
    });
    const [ns, , hello] = out.trim().split("\n");
    expect(ns).toBe(await nsOfPid(state.pid));
    expect(ns).not.toBe(await nsOfPid("self"));
    expect(hello).toBe("from-owner-shm");
  });

  it("recursive read-only bind: submounts are read-only too, unlike plain ro", async () => {
    const rro = rroSupport({
      // What the agent's probe finds on this kernel (6.x); the probe itself is tested in host-os.
      kernel: { supported: true },
      runtimeName: "runc",
      runtimeFeatures: (await run(RUNC, ["features"])).stdout,
    });
    expect(rro).toEqual({ supported: true });
    const script = "touch /data/sub/x 2>/dev/null && echo writable || echo read-only";
    const plain = await runContainer({
      ipc: { mode: "none" },
      bindMounts: [{ source: roSource, destination: "/data", readonly: true }],
      script,
    });
    const recursive = await runContainer({
      ipc: { mode: "none" },
      bindMounts: [{ source: roSource, destination: "/data", readonly: true, readonlyMode: "recursive" }],
      rro,
      script,
    });
    expect(plain.trim()).toBe("writable");
    expect(recursive.trim()).toBe("read-only");
  });
});
