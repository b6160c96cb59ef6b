/**
 * Every refusal of DESIGN.md through the CLI (docker's exit code and the message) and through gRPC
 * (the status code and the message), and that a refusal leaves nothing behind: the number
 * of events in the log, of containers (projection and containerd) and the mounts under the
 * state root are the same before and after.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Status, startStack } from "./stack";
import type { E2eStack, GrpcError } from "./stack";

let stack: E2eStack;
beforeAll(async () => {
  stack = await startStack();
  // The cast: a running shareable owner, a running private container, a shareable container
  // that was created and never started, and a paused one.
  for (const [name, ipc] of [
    ["shared", "shareable"],
    ["priv", "private"],
    ["paused", "private"],
  ]) {
    const r = await stack.cli(["run", "-d", "--name", name!, "--ipc", ipc!, "--rootfs", stack.rootfs, "/bin/sleep", "3600"]);
    expect(r.code, r.stderr).toBe(0);
  }
  const created = await stack.cli(["create", "--name", "stopped-owner", "--ipc", "shareable", "--rootfs", stack.rootfs, "/bin/sleep", "3600"]);
  expect(created.code, created.stderr).toBe(0);
  const paused = await stack.cli(["pause", "paused"]);
  expect(paused.code, paused.stderr).toBe(0);
});
afterAll(async () => {
  await stack?.teardown();
});

interface Snapshot {
  events: number;
  containers: { projection: number; containerd: number };
  mounts: string[];
}
async function snapshot(): Promise<Snapshot> {
  return { events: await stack.eventCount(), containers: await stack.containerCounts(), mounts: (await stack.mountsUnderStateRoot()).sort() };
}

/** Expects `fn` to reject with the gRPC status `code` and a message matching `message`. */
async function expectGrpcRefusal(fn: () => Promise<unknown>, code: number, message: RegExp): Promise<void> {
  const err = await fn().then(
    () => undefined,
    (e: GrpcError) => e,
  );
  expect(err, "the call succeeded").toBeDefined();
  expect({ code: err!.code, details: err!.details }).toMatchObject({ code, details: expect.stringMatching(message) });
  expect(err!.details).not.toMatch(/\n\s+at /); // no stack trace leaks to the user
}

/** `shoal run -d` with these flags is refused with exit 125 and the message. */
async function expectRunRefused(flags: string[], message: RegExp): Promise<void> {
  const r = await stack.cli(["run", "-d", ...flags, "--rootfs", stack.rootfs, "/bin/true"]);
  expect(r.code, `stdout=${r.stdout} stderr=${r.stderr}`).toBe(125);
  expect(r.stderr).toMatch(message);
  expect(r.stdout).toBe("");
}

function create(hostConfig: object, name = ""): () => Promise<unknown> {
  return () => stack.call("Containers", "CreateContainer", { name, rootfs: stack.rootfs, args: ["/bin/true"], host_config: hostConfig });
}

const cases: { what: string; flags: string[]; hostConfig: object; name?: string; code: number; message: RegExp }[] = [
  { what: "an unknown IPC mode", flags: ["--ipc", "bogus"], hostConfig: { ipc_mode: "bogus" }, code: Status.INVALID_ARGUMENT, message: /invalid IPC mode: bogus/ },
  { what: "container: with an empty reference", flags: ["--ipc", "container:"], hostConfig: { ipc_mode: "container:" }, code: Status.INVALID_ARGUMENT, message: /invalid IPC mode/ },
  { what: "a negative shm size", flags: ["--shm-size", "-1"], hostConfig: { shm_size: "-1" }, code: Status.INVALID_ARGUMENT, message: /shm.?size|-1/i },
  { what: "an unparseable shm size", flags: ["--shm-size", "12parsecs"], hostConfig: { shm_size: "12parsecs" }, code: Status.INVALID_ARGUMENT, message: /12parsecs/ },
  {
    what: "a shm size on a member",
    flags: ["--ipc", "container:shared", "--shm-size", "1m"],
    hostConfig: { ipc_mode: "container:shared", shm_size: "1m" },
    code: Status.INVALID_ARGUMENT,
    message: /shm.?size/i,
  },
  { what: "a shm size with host", flags: ["--ipc", "host", "--shm-size", "1m"], hostConfig: { ipc_mode: "host", shm_size: "1m" }, code: Status.INVALID_ARGUMENT, message: /shm.?size/i },
  { what: "joining a missing container", flags: ["--ipc", "container:nope"], hostConfig: { ipc_mode: "container:nope" }, code: Status.NOT_FOUND, message: /nope/ },
  { what: "a duplicate name", flags: ["--name", "shared"], hostConfig: {}, name: "shared", code: Status.ALREADY_EXISTS, message: /shared/ },
];

describe("refusals: the right code and message, nothing left behind", () => {
  for (const c of cases) {
    it(`${c.what}: CLI 125 and gRPC ${Status[c.code]}`, async () => {
      const before = await snapshot();
      await expectRunRefused(c.flags, c.message);
      await expectGrpcRefusal(create(c.hostConfig, c.name), c.code, c.message);
      expect(await snapshot()).toEqual(before);
    });
  }

  it("joining a container that is not running, or is private: refused at start as Docker does, the member stays created", async () => {
    for (const [owner, message] of [
      ["stopped-owner", /container stopped-owner is not running/],
      ["priv", /non-shareable IPC \(hint: start priv with --ipc shareable\)/],
    ] as const) {
      const name = `joins-${owner}`;
      const r = await stack.cli(["run", "-d", "--name", name, "--ipc", `container:${owner}`, "--rootfs", stack.rootfs, "/bin/true"]);
      expect(r.code, r.stderr).toBe(125);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe("");
      const before = await snapshot();
      await expectGrpcRefusal(() => stack.call("Containers", "StartContainer", { container: name }), Status.FAILED_PRECONDITION, message);
      expect(await snapshot()).toEqual(before);
      expect(JSON.parse((await stack.cli(["inspect", name])).stdout)[0].State.Status).toBe("created");
      expect((await stack.cli(["rm", name])).code).toBe(0);
    }
  });

  it("starting a paused container: CLI 1 and gRPC FAILED_PRECONDITION 'try unpause instead'", async () => {
    const before = await snapshot();
    const r = await stack.cli(["start", "paused"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot start a paused container, try unpause instead/);
    await expectGrpcRefusal(
      () => stack.call("Containers", "StartContainer", { container: "paused" }),
      Status.FAILED_PRECONDITION,
      /cannot start a paused container, try unpause instead/,
    );
    expect(await snapshot()).toEqual(before);
    const inspect = JSON.parse((await stack.cli(["inspect", "paused"])).stdout)[0];
    expect(inspect.State).toMatchObject({ Paused: true, Running: true });
  });

  it("a checkpoint start without experimental: gRPC FAILED_PRECONDITION", async () => {
    const config = await stack.cli(["config", "show", "--format", "json"]);
    expect(config.code, config.stderr).toBe(0);
    expect(config.stdout).toMatch(/"experimental":\s*false/);
    const before = await snapshot();
    await expectGrpcRefusal(
      () => stack.call("Containers", "StartContainer", { container: "stopped-owner", checkpoint: "cp1" }),
      Status.FAILED_PRECONDITION,
      /checkpoint restore is only supported with experimental mode enabled/,
    );
    expect(await snapshot()).toEqual(before);
  });

  it("a checkpoint start with experimental on: NOT_FOUND (Docker's words: no such checkpoint), never a fresh start", async () => {
    expect((await stack.cli(["config", "set", "experimental=true"])).code).toBe(0);
    try {
      const before = await snapshot();
      await expectGrpcRefusal(
        () => stack.call("Containers", "StartContainer", { container: "stopped-owner", checkpoint: "cp1" }),
        Status.NOT_FOUND,
        /^checkpoint cp1 does not exist for container \/stopped-owner$/,
      );
      expect(await snapshot()).toEqual(before);
      const cli = await stack.cli(["start", "--checkpoint", "cp1", "stopped-owner"]);
      expect(cli).toMatchObject({ code: 1, stdout: "" });
      expect(cli.stderr).toMatch(/checkpoint cp1 does not exist for container \/stopped-owner/);
      expect(await snapshot()).toEqual(before);
      expect(JSON.parse((await stack.cli(["inspect", "stopped-owner"])).stdout)[0].State.Status).toBe("created");
    } finally {
      expect((await stack.cli(["config", "set", "experimental=false"])).code).toBe(0);
    }
  });

  it("an invalid config change is refused whole and the previous config stays", async () => {
    const before = await stack.cli(["config", "show", "--format", "json"]);
    const events = await stack.eventCount();
    const r = await stack.cli(["config", "set", "default-ipc-mode=host"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/default-ipc-mode/);
    expect((await stack.cli(["config", "show", "--format", "json"])).stdout).toBe(before.stdout);
    expect(await stack.eventCount()).toBe(events);
  });
});
