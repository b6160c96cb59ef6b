/**
 * Every IPC mode of DESIGN.md's semantics table, observed from inside real containers started
 * with `shoal run -d` and probed with `shoal exec`: which IPC namespace the container is in
 * (`readlink /proc/self/ns/ipc`), what backs its /dev/shm (`/proc/mounts`, `df`), and whether
 * a file written to /dev/shm is seen where the table says it is shared.
 */
import { randomBytes } from "node:crypto";
import { readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectContainerCounts, startStack } from "./stack";
import type { E2eStack } from "./stack";

let stack: E2eStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.teardown();
});

/** `shoal run -d` of a long sleep; returns the container id. */
async function runDetached(name: string, ...flags: string[]): Promise<string> {
  const r = await stack.cli(["run", "-d", "--name", name, ...flags, "--rootfs", stack.rootfs, "/bin/sleep", "3600"]);
  expect(r.code, `run ${name}: ${r.stderr}`).toBe(0);
  const id = r.stdout.trim();
  expect(id).toMatch(/^[0-9a-f]{64}$/);
  return id;
}

async function exec(name: string, ...args: string[]): Promise<string> {
  const r = await stack.cli(["exec", name, ...args]);
  expect(r.code, `exec ${name} ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

const ipcNamespace = (name: string) => exec(name, "readlink", "/proc/self/ns/ipc").then((s) => s.trim());
/** The /dev/shm line of the container's /proc/mounts, or undefined when nothing is mounted there. */
const shmMountLine = (name: string) =>
  exec(name, "cat", "/proc/mounts").then((s) => s.split("\n").find((l) => l.split(" ")[1] === "/dev/shm"));
/** Size of the container's /dev/shm in KiB, from `df -k`. */
const shmSizeKiB = (name: string) =>
  exec(name, "df", "-k", "/dev/shm").then((s) => Number(s.trim().split("\n").at(-1)!.trim().split(/\s+/)[1]));

async function inspect(name: string): Promise<any> {
  const r = await stack.cli(["inspect", name]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout)[0];
}

const hostIpcNamespace = () => readlink("/proc/self/ns/ipc");

describe("IPC modes, observed inside the containers", () => {
  it("private: a new namespace and a tmpfs /dev/shm of the requested size inside the container", async () => {
    await runDetached("priv-a", "--ipc", "private", "--shm-size", "16m");
    await runDetached("priv-b", "--ipc", "private");
    const a = await ipcNamespace("priv-a");
    expect(a).toMatch(/^ipc:\[\d+\]$/);
    expect(a).not.toBe(await hostIpcNamespace());
    expect(a).not.toBe(await ipcNamespace("priv-b"));
    expect(await shmMountLine("priv-a")).toMatch(/^\S+ \/dev\/shm tmpfs /);
    expect(await shmSizeKiB("priv-a")).toBe(16 * 1024);
    expect(await shmSizeKiB("priv-b")).toBe(64 * 1024); // the default

    // Nothing of a private container's /dev/shm is on the host.
    await exec("priv-a", "sh", "-c", "echo private > /dev/shm/p");
    expect(await stack.mountsUnderStateRoot()).toEqual([]);
    expect((await inspect("priv-a")).HostConfig.IpcMode).toBe("private");
  });

  it("shareable + container:<owner>: the member joins the owner's namespace and /dev/shm, backed by the host tmpfs", async () => {
    const owner = await runDetached("owner", "--ipc", "shareable", "--shm-size", "32m");
    const shmPath = `${stack.stateRoot}/containers/${owner}/mounts/shm`;
    expect(await stack.mountsUnderStateRoot()).toContain(shmPath);
    const hostLine = (await readFile("/proc/self/mountinfo", "utf8")).split("\n").find((l) => l.split(" ")[4] === shmPath)!;
    expect(hostLine).toMatch(/ - tmpfs /);
    expect(hostLine).toMatch(/size=32768k/);
    expect(hostLine).toMatch(/nosuid,nodev,noexec/);
    expect((await stat(shmPath)).mode & 0o7777).toBe(0o1777); // tmpfs lists mode= only when not 1777

    const member = await runDetached("member", "--ipc", "container:owner");
    const ownerNs = await ipcNamespace("owner");
    expect(ownerNs).not.toBe(await hostIpcNamespace());
    expect(await ipcNamespace("member")).toBe(ownerNs);
    expect(await shmSizeKiB("owner")).toBe(32 * 1024);
    expect(await shmSizeKiB("member")).toBe(32 * 1024); // the member inherits the owner's size

    // A file shared through /dev/shm: owner → member, member → owner, and it lives in the host tmpfs.
    await exec("owner", "sh", "-c", "echo from-owner > /dev/shm/hello");
    expect(await exec("member", "cat", "/dev/shm/hello")).toBe("from-owner\n");
    await exec("member", "sh", "-c", "echo from-member > /dev/shm/reply");
    expect(await exec("owner", "cat", "/dev/shm/reply")).toBe("from-member\n");
    expect(await readFile(`${shmPath}/hello`, "utf8")).toBe("from-owner\n");

    const ownerInfo = await inspect("owner");
    expect(ownerInfo.HostConfig.IpcMode).toBe("shareable");
    expect(ownerInfo.HostConfig.ShmSize).toBe(32 * 1024 * 1024);
    expect([`container:owner`, `container:${owner}`]).toContain((await inspect("member")).HostConfig.IpcMode);
    expect(JSON.stringify(await inspect("member"))).toContain(owner);

    // The owner's shm mount lives until the last member has exited, then it is unmounted.
    expect((await stack.cli(["stop", "-t", "1", "owner"])).code).toBe(0);
    expect(await stack.mountsUnderStateRoot()).toContain(shmPath);
    expect((await stack.cli(["stop", "-t", "1", "member"])).code).toBe(0);
    await waitUntil(`shm of ${owner} unmounted`, async () => !(await stack.mountsUnderStateRoot()).includes(shmPath));
    expect((await stack.cli(["rm", "member", "owner"])).code).toBe(0);
    expect(member).not.toBe(owner);
  });

  it("none: a new namespace and no /dev/shm mount at all", async () => {
    await runDetached("none-a", "--ipc", "none");
    const ns = await ipcNamespace("none-a");
    expect(ns).not.toBe(await hostIpcNamespace());
    expect(await shmMountLine("none-a")).toBeUndefined();
    expect((await inspect("none-a")).HostConfig.IpcMode).toBe("none");
  });

  it("host: the host's IPC namespace and the host's /dev/shm", async () => {
    await runDetached("host-a", "--ipc", "host");
    expect(await ipcNamespace("host-a")).toBe(await hostIpcNamespace());
    const file = `shoal-e2e-${randomBytes(4).toString("hex")}`;
    try {
      await writeFile(`/dev/shm/${file}`, "from-host\n");
      expect(await exec("host-a", "cat", `/dev/shm/${file}`)).toBe("from-host\n");
    } finally {
      await rm(`/dev/shm/${file}`, { force: true });
    }
    expect((await inspect("host-a")).HostConfig.IpcMode).toBe("host");
  });

  it("empty: the daemon default, private unless the config says shareable", async () => {
    const a = await runDetached("default-a");
    // As Docker's inspect does, IpcMode shows the mode the default resolved to.
    expect((await inspect("default-a")).HostConfig.IpcMode).toBe("private");
    expect((await stack.mountsUnderStateRoot()).filter((m) => m.includes(a))).toEqual([]);

    expect((await stack.cli(["config", "set", "default-ipc-mode=shareable"])).code).toBe(0);
    try {
      const b = await runDetached("default-b");
      expect(await stack.mountsUnderStateRoot()).toContain(`${stack.stateRoot}/containers/${b}/mounts/shm`);
      // And it can be joined, as any shareable container.
      await runDetached("default-b-member", "--ipc", "container:default-b");
      expect(await ipcNamespace("default-b-member")).toBe(await ipcNamespace("default-b"));
    } finally {
      expect((await stack.cli(["config", "set", "default-ipc-mode=private"])).code).toBe(0);
    }
  });

  it("leaves no mount behind once every container is removed", async () => {
    const r = await stack.cli(["ps", "-a", "-q"]);
    expect(r.code, r.stderr).toBe(0);
    const ids = r.stdout.split("\n").filter((l) => l.trim() !== "");
    expect(ids.length).toBeGreaterThan(0);
    const rm = await stack.cli(["rm", "-f", ...ids]);
    expect(rm.code, rm.stderr).toBe(0);
    await waitUntil("every shm mount gone", async () => (await stack.mountsUnderStateRoot()).length === 0);
    await expectContainerCounts(stack, { projection: 0, containerd: 0 });
  });
});

async function waitUntil(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
