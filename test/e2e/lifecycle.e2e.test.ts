/**
 * Docker's container lifecycle through the real `shoal` and the whole stack, scenario by
 * scenario as dockerd 20.10 answers it: names, compose-order creation of an IPC member,
 * restart, rename, top, ps --no-trunc, and the refusals (rm of a running container, exec
 * into a stopped or paused one, kill of a stopped one, stop past its grace period) with
 * docker's exit codes (1 for a refusal from any command but `run`, 125 from `run`).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Status, startStack } from "./stack";
import type { E2eStack, GrpcError } from "./stack";

let stack: E2eStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.teardown();
});

const SLEEP = ["/bin/sleep", "3600"];

async function run(name: string, extra: string[] = [], cmd: string[] = SLEEP): Promise<string> {
  const r = await stack.cli(["run", "-d", "--name", name, ...extra, "--rootfs", stack.rootfs, ...cmd]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

async function inspect(ref: string): Promise<any> {
  const r = await stack.cli(["inspect", ref]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout)[0];
}

describe("names", () => {
  it("a one-character name is refused with Docker's message (125 from run, 1 from create); two characters are fine", async () => {
    const ran = await stack.cli(["run", "-d", "--name", "a", "--rootfs", stack.rootfs, ...SLEEP]);
    expect(ran.code).toBe(125);
    expect(ran.stderr).toBe("shoal: Error response from daemon: Invalid container name (a), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\n");
    const created = await stack.cli(["create", "--name", "b", "--rootfs", stack.rootfs, ...SLEEP]);
    expect(created.code).toBe(1);
    expect(created.stderr).toMatch(/Invalid container name \(b\)/);
    const ok = await stack.cli(["create", "--name", "ab", "--rootfs", stack.rootfs, ...SLEEP]);
    expect(ok.code, ok.stderr).toBe(0);
  });
});

describe("an IPC member created in compose order", () => {
  it("is created before its owner runs, refused at start until the owner runs, then joins it", async () => {
    const owner = (await stack.cli(["create", "--name", "co-owner", "--ipc", "shareable", "--rootfs", stack.rootfs, ...SLEEP])).stdout.trim();
    const member = await stack.cli(["create", "--name", "co-member", "--ipc", "container:co-owner", "--rootfs", stack.rootfs, ...SLEEP]);
    expect(member.code, member.stderr).toBe(0);
    const early = await stack.cli(["start", "co-member"]);
    expect(early).toMatchObject({
      code: 1,
      stderr: "shoal: Error response from daemon: container co-owner is not running\nshoal: Error: failed to start containers: co-member\n",
    });
    expect((await inspect("co-member")).State.Status).toBe("created");
    expect((await stack.cli(["start", "co-owner"])).code).toBe(0);
    const late = await stack.cli(["start", "co-member"]);
    expect(late, late.stderr).toMatchObject({ code: 0, stdout: "co-member\n" });
    const joined = await inspect("co-member");
    expect(joined.State.Running).toBe(true);
    expect(joined.IpcGroup).toMatchObject({ Owner: owner, Role: "member" });
  });
});

describe("refusals with docker's exit codes and messages", () => {
  it("a rootfs directory is checked on the host that runs the container, at start (the api's filesystem is another machine's in a fleet)", async () => {
    const r = await stack.cli(["run", "-d", "--name", "nowhere", "--rootfs", "/definitely/not/here", ...SLEEP]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain(`rootfs /definitely/not/here: no such directory on host ${stack.host}`);
    expect((await inspect("nowhere")).State).toMatchObject({ Running: false, ExitCode: 128 });
    expect((await stack.cli(["rm", "nowhere"])).code).toBe(0);
  });

  it("rm of a running container without -f is 1 and leaves it running", async () => {
    const id = await run("busy");
    const r = await stack.cli(["rm", "busy"]);
    expect(r).toEqual({
      code: 1,
      stdout: "",
      stderr: `shoal: Error response from daemon: You cannot remove a running container ${id}. Stop the container before attempting removal or force remove\n`,
    });
    expect((await inspect("busy")).State.Running).toBe(true);
  });

  it("exec into a paused container, then into a stopped one, is 1", async () => {
    const id = await run("execd");
    expect((await stack.cli(["pause", "execd"])).code).toBe(0);
    expect(await stack.cli(["exec", "execd", "true"])).toMatchObject({
      code: 1,
      stderr: "shoal: Error response from daemon: Container execd is paused, unpause the container before exec\n",
    });
    expect((await stack.cli(["unpause", "execd"])).code).toBe(0);
    expect((await stack.cli(["stop", "-t", "1", "execd"])).code).toBe(0);
    expect(await stack.cli(["exec", "execd", "true"])).toMatchObject({
      code: 1,
      stderr: `shoal: Error response from daemon: Container ${id} is not running\n`,
    });
    expect(await stack.cli(["kill", "execd"])).toMatchObject({
      code: 1,
      stderr: `shoal: Error response from daemon: Cannot kill container: execd: Container ${id} is not running\n`,
    });
    expect(await stack.cli(["top", "execd"])).toMatchObject({ code: 1, stderr: `shoal: Error response from daemon: Container ${id} is not running\n` });
  });

  it("a missing container is 1 from every command but run", async () => {
    for (const args of [["stop", "ghost"], ["start", "ghost"], ["restart", "ghost"], ["rm", "ghost"], ["inspect", "ghost"], ["top", "ghost"], ["rename", "ghost", "ghost2"]]) {
      const r = await stack.cli(args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toMatch(/No such container: ghost/);
    }
  });

  it("stop of a container that ignores SIGTERM kills it after the grace period: exit code 137", async () => {
    await run("stubborn", [], ["/bin/sh", "-c", "trap '' TERM; while true; do sleep 1; done"]);
    const r = await stack.cli(["stop", "-t", "1", "stubborn"]);
    expect(r, r.stderr).toMatchObject({ code: 0, stdout: "stubborn\n" });
    expect((await inspect("stubborn")).State).toMatchObject({ Status: "exited", Running: false, ExitCode: 137 });
  });
});

describe("restart, rename, top, ps --no-trunc", () => {
  it("restart stops a running container and starts it again, and starts one that is not running", async () => {
    await run("again");
    const before = await inspect("again");
    const r = await stack.cli(["restart", "-t", "1", "again"]);
    expect(r, r.stderr).toMatchObject({ code: 0, stdout: "again\n" });
    const after = await inspect("again");
    expect(after.State.Running).toBe(true);
    expect(after.State.Pid).not.toBe(before.State.Pid);
    expect(after.State.StartedAt > before.State.StartedAt).toBe(true);

    expect((await stack.cli(["create", "--name", "fresh", "--rootfs", stack.rootfs, ...SLEEP])).code).toBe(0);
    expect((await stack.cli(["restart", "fresh"])).code).toBe(0);
    expect((await inspect("fresh")).State.Running).toBe(true);
  });

  it("rename moves the name and frees the old one; Docker's refusals are 1", async () => {
    const id = await run("old-name");
    await run("taken-name");
    expect(await stack.cli(["rename", "old-name", "new-name"])).toEqual({ code: 0, stdout: "", stderr: "" });
    expect((await inspect("new-name")).Name).toBe("/new-name");
    expect((await inspect(id)).Name).toBe("/new-name");
    expect((await stack.cli(["inspect", "old-name"])).code).toBe(1);
    expect((await stack.cli(["ps", "--filter", "name=new-name", "--format", "{{.Names}}"])).stdout).toBe("new-name\n");
    // The old name is free again.
    await run("old-name");

    const conflict = await stack.cli(["rename", "new-name", "taken-name"]);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/Error when allocating new name: Conflict\. The container name "\/taken-name" is already in use by container/);
    expect(conflict.stderr).toMatch(/Error: failed to rename container named new-name\n$/);
    expect((await stack.cli(["rename", "new-name", "new-name"])).stderr).toMatch(/Renaming a container with the same name as its current name/);
    expect((await stack.cli(["rename", "new-name", "z"])).stderr).toMatch(/Invalid container name \(\/z\)/);
    const grpc = await stack.call("Containers", "RenameContainer", { container: "new-name", new_name: "taken-name" }).then(
      () => undefined,
      (e: GrpcError) => e,
    );
    expect(grpc?.code).toBe(Status.ALREADY_EXISTS);
  });

  it("top lists the container's processes as ps shows them on its host, with ps's options", async () => {
    await run("topped", [], ["/bin/sh", "-c", "sleep 3600 & sleep 3601"]);
    const r = await stack.cli(["top", "topped"]);
    expect(r.code, r.stderr).toBe(0);
    const [header, ...rows] = r.stdout.trimEnd().split("\n");
    expect(header!.split(/\s+/)).toEqual(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
    // busybox sh runs the last command of -c in its own place: two processes.
    const commands = rows.map((row) => row.split(/\s{2,}/).at(-1)).sort();
    expect(commands).toEqual(["sleep 3600", "sleep 3601"]);

    const custom = await stack.cli(["top", "topped", "-o", "pid,comm"]);
    expect(custom.code, custom.stderr).toBe(0);
    expect(custom.stdout.split("\n")[0]!.split(/\s+/)).toEqual(["PID", "COMMAND"]);
    expect(custom.stdout.trimEnd().split("\n")).toHaveLength(3);
  });

  it("ps --no-trunc shows full ids and commands", async () => {
    const id = await run("long-command", [], ["/bin/sh", "-c", "sleep 3600; echo a-command-longer-than-twenty-characters"]);
    const cut = await stack.cli(["ps", "--filter", "name=long-command", "--format", "{{.ID}} {{.Command}}"]);
    expect(cut.stdout).toBe(`${id.slice(0, 12)} "/bin/sh -c sleep 36…"\n`);
    const full = await stack.cli(["ps", "--no-trunc", "--filter", "name=long-command", "--format", "{{.ID}} {{.Command}}"]);
    expect(full.stdout).toBe(`${id} "/bin/sh -c sleep 3600; echo a-command-longer-than-twenty-characters"\n`);
    const table = await stack.cli(["ps", "--no-trunc", "--filter", "name=long-command"]);
    expect(table.stdout.split("\n")[1]!.startsWith(`${id}   `)).toBe(true);
    expect((await stack.cli(["ps", "-q", "--no-trunc", "--filter", "name=long-command"])).stdout).toBe(`${id}\n`);
  });
});
