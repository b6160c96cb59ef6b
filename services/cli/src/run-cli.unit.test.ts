import { describe, expect, it } from "vitest";
import { DaemonError } from "./daemon-error";
import { runCli, startFailureExitCode, tailOffset } from "./run-cli";
import type { CliIo } from "./run-cli";
import type { ShoalApi } from "./shoal-api-client";

type Handler = (request: any) => unknown;

/** An in-process api: each method answers through its handler; every call is recorded. */
function fakeApi(handlers: Record<string, Handler>) {
  const calls: Array<{ method: string; request: any }> = [];
  const api: ShoalApi = {
    async call(method, request) {
      calls.push({ method, request });
      const handler = handlers[method];
      if (handler === undefined) throw new Error(`unexpected call ${method}`);
      return (await handler(request)) as never;
    },
    subscribe() {
      throw new Error("unexpected subscribe");
    },
    exportCheckpoint() {
      throw new Error("unexpected export");
    },
    pullImage() {
      throw new Error("unexpected pull");
    },
    async loadImage() {
      throw new Error("unexpected load");
    },
    saveImage() {
      throw new Error("unexpected save");
    },
    async importCheckpoint() {
      throw new Error("unexpected import");
    },
    close() {},
  };
  return { api, calls };
}

function io(api: ShoalApi, extra: Partial<CliIo> = {}) {
  let stdout = "";
  let stderr = "";
  const text = (chunk: string | Uint8Array) => (typeof chunk === "string" ? chunk : Buffer.from(chunk).toString());
  const cliIo: CliIo = {
    stdout: { write: (c) => (stdout += text(c)) },
    stderr: { write: (c) => (stderr += text(c)) },
    env: {},
    now: () => new Date("2026-11-23T12:00:00Z"),
    readFile: async () => "{}",
    connect: async () => api,
    ...extra,
  };
  return { cliIo, out: () => ({ stdout, stderr }) };
}

const ID = "f".repeat(64);
const created = { "Containers/CreateContainer": () => ({ id: ID, name: "x" }), "Containers/StartContainer": () => ({ id: ID, failed: false }) };

describe("run without -d", () => {
  it("prints output that grows while the container runs exactly once, in order, and exits with its code", async () => {
    const chunks = ["one\n", "two\n", "three\n"];
    let logCalls = 0;
    let finish: (v: unknown) => void = () => {};
    const exited = new Promise((resolve) => (finish = resolve));
    const { api } = fakeApi({
      ...created,
      "Containers/WaitContainer": () => exited,
      "Containers/ContainerLogs": () => {
        logCalls++;
        if (logCalls === chunks.length) finish({ exit_code: 9, error: "" });
        return { output: Buffer.from(chunks.slice(0, logCalls).join("")) };
      },
    });
    const { cliIo, out } = io(api);
    expect(await runCli(["run", "--rootfs", "/r", "sh"], cliIo)).toBe(9);
    expect(out().stdout).toBe("one\ntwo\nthree\n");
  });

  it("with --rm, a container already removed when the last output is fetched keeps its exit code", async () => {
    const { api, calls } = fakeApi({
      ...created,
      "Containers/WaitContainer": () => ({ exit_code: 3, error: "" }),
      "Containers/ContainerLogs": () => {
        throw new DaemonError("NOT_FOUND", `No such container: ${ID}`, false);
      },
    });
    const { cliIo, out } = io(api);
    expect(await runCli(["run", "--rm", "--rootfs", "/r", "sh"], cliIo)).toBe(3);
    expect(out()).toEqual({ stdout: "", stderr: "" });
    expect(calls[0]!.request.host_config.auto_remove).toBe(true);
  });

  it("passes a signal the CLI receives to the container and keeps waiting (docker's sig-proxy)", async () => {
    let finish: (v: unknown) => void = () => {};
    const exited = new Promise((resolve) => (finish = resolve));
    let listener: ((signal: string) => void) | undefined;
    let unregistered = false;
    const { api, calls } = fakeApi({
      ...created,
      "Containers/WaitContainer": () => exited,
      "Containers/ContainerLogs": () => {
        listener?.("SIGINT");
        return { output: Buffer.alloc(0) };
      },
      "Containers/KillContainer": () => {
        finish({ exit_code: 130, error: "" });
        return {};
      },
    });
    const { cliIo } = io(api, {
      onSignal: (l) => {
        listener = l;
        return () => (unregistered = true);
      },
    });
    expect(await runCli(["run", "--rootfs", "/r", "sh"], cliIo)).toBe(130);
    expect(calls.find((c) => c.method === "Containers/KillContainer")!.request).toEqual({ container: ID, signal: "SIGINT" });
    expect(unregistered).toBe(true);
  });
});

describe("exit codes", () => {
  it("a failed start: 126 and 127 pass through, anything else is 125", () => {
    expect(startFailureExitCode(126)).toBe(126);
    expect(startFailureExitCode(127)).toBe(127);
    expect(startFailureExitCode(128)).toBe(125);
    expect(startFailureExitCode(0)).toBe(125);
  });

  it("a refusal prints docker's prefix and the daemon's message, no stack, 125", async () => {
    const { api } = fakeApi({
      "Containers/CreateContainer": () => {
        throw new DaemonError("INVALID_ARGUMENT", "invalid shm size \"-1\"", false);
      },
    });
    const { cliIo, out } = io(api);
    expect(await runCli(["run", "--shm-size", "-1", "busybox"], cliIo)).toBe(125);
    expect(out()).toEqual({ stdout: "", stderr: 'shoal: Error response from daemon: invalid shm size "-1"\n' });
  });

  it("any command but run exits 1 for a refusal, as docker's do", async () => {
    const refuse = (code: string, message: string) => () => {
      throw new DaemonError(code, message, false);
    };
    const { api } = fakeApi({
      "Containers/CreateContainer": refuse("INVALID_ARGUMENT", "Invalid container name (a), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
      "Containers/StopContainer": refuse("NOT_FOUND", "No such container: nope"),
      "Containers/RemoveContainer": refuse("FAILED_PRECONDITION", "You cannot remove a running container"),
      "Containers/InspectContainer": refuse("NOT_FOUND", "No such container: nope"),
    });
    const { cliIo } = io(api);
    expect(await runCli(["create", "--name", "a", "--rootfs", "/r", "true"], cliIo)).toBe(1);
    expect(await runCli(["run", "--name", "a", "--rootfs", "/r", "true"], cliIo)).toBe(125);
    expect(await runCli(["stop", "nope"], cliIo)).toBe(1);
    expect(await runCli(["rm", "web"], cliIo)).toBe(1);
    expect(await runCli(["inspect", "nope"], cliIo)).toBe(1);
  });

  it("start: a failed start is 1, and docker's closing line names every container that did not start", async () => {
    const { api } = fakeApi({
      "Containers/StartContainer": (r: { container: string }) => {
        if (r.container === "gone") throw new DaemonError("NOT_FOUND", "No such container: gone", false);
        return r.container === "bad" ? { id: ID, failed: true, exit_code: 127, error: "exec: not found" } : { id: ID, failed: false };
      },
    });
    const { cliIo, out } = io(api);
    expect(await runCli(["start", "ok", "bad", "gone"], cliIo)).toBe(1);
    expect(out()).toEqual({
      stdout: "ok\n",
      stderr:
        "shoal: Error response from daemon: exec: not found\n" +
        "shoal: Error response from daemon: No such container: gone\n" +
        "shoal: Error: failed to start containers: bad, gone\n",
    });
  });

  it("start -a of a command that cannot start is 1, run's is 127", async () => {
    const { api } = fakeApi({
      ...created,
      "Containers/StartContainer": () => ({ id: ID, failed: true, exit_code: 127, error: "exec: not found" }),
      "Containers/WaitContainer": () => new Promise(() => {}),
    });
    const { cliIo } = io(api);
    expect(await runCli(["start", "-a", "web"], cliIo)).toBe(1);
    expect(await runCli(["run", "--rootfs", "/r", "nope"], cliIo)).toBe(127);
  });

  it("rename: a refusal is 1, with docker's closing line", async () => {
    const { api } = fakeApi({
      "Containers/RenameContainer": () => {
        throw new DaemonError("INVALID_ARGUMENT", "Renaming a container with the same name as its current name", false);
      },
    });
    const { cliIo, out } = io(api);
    expect(await runCli(["rename", "web", "web"], cliIo)).toBe(1);
    expect(out().stderr).toBe(
      "shoal: Error response from daemon: Renaming a container with the same name as its current name\n" +
        "shoal: Error: failed to rename container named web\n",
    );
  });

  it("an address the CLI cannot use is 125 before any call", async () => {
    const { cliIo, out } = io(fakeApi({}).api, {
      connect: async () => {
        throw new Error('expected host:port or unix:/path, got "nowhere"');
      },
    });
    expect(await runCli(["--addr", "nowhere", "run", "--rootfs", "/r", "true"], cliIo)).toBe(125);
    expect(await runCli(["--addr", "nowhere", "ps"], cliIo)).toBe(1);
    expect(out().stderr).toBe('shoal: cannot use api address "nowhere": expected host:port or unix:/path, got "nowhere"\n'.repeat(2));
  });

  it("a bad flag is 125 with the command's help hint and never connects; a missing argument is 1", async () => {
    let connected = false;
    const { cliIo, out } = io(fakeApi({}).api, {
      connect: async () => {
        connected = true;
        return fakeApi({}).api;
      },
    });
    expect(await runCli(["stop", "-t", "x", "web"], cliIo)).toBe(125);
    expect(out().stderr).toBe(`shoal: invalid argument "x" for "-t, --time" flag: expected a whole number of at least 0\nSee 'shoal stop --help'.\n`);
    expect(await runCli(["stop"], cliIo)).toBe(1);
    expect(connected).toBe(false);
  });

  it("ps follows page tokens until the last page", async () => {
    const page = (id: string, next: string) => ({ containers: [{ id: id.repeat(64), name: id, args: [], state: null, created_at: null }], next_page_token: next });
    const { api, calls } = fakeApi({
      "Containers/ListContainers": (r: { page_token: string }) => (r.page_token === "" ? page("a", "p2") : page("b", "")),
    });
    const { cliIo, out } = io(api);
    expect(await runCli(["ps", "-aq"], cliIo)).toBe(0);
    expect(out().stdout).toBe(`${"a".repeat(12)}\n${"b".repeat(12)}\n`);
    expect(calls.map((c) => c.request.page_token)).toEqual(["", "p2"]);
  });
});

describe("logs -f", () => {
  it("prints the last N lines so far, then new output until the container stops, and does not proxy signals", async () => {
    const snapshots = ["old 1\nold 2\nold 3\n", "old 1\nold 2\nold 3\nnew 4\n", "old 1\nold 2\nold 3\nnew 4\nnew 5\n"];
    let logCalls = 0;
    let finish: (v: unknown) => void = () => {};
    const stopped = new Promise((resolve) => (finish = resolve));
    const { api, calls } = fakeApi({
      "Containers/WaitContainer": () => stopped,
      "Containers/ContainerLogs": () => {
        const output = snapshots[Math.min(logCalls, snapshots.length - 1)]!;
        logCalls++;
        if (logCalls === snapshots.length) finish({ exit_code: 0, error: "" });
        return { output: Buffer.from(output) };
      },
    });
    let proxied = false;
    const { cliIo, out } = io(api, { onSignal: () => ((proxied = true), () => {}) });
    expect(await runCli(["logs", "-f", "--tail", "1", "web"], cliIo)).toBe(0);
    expect(out().stdout).toBe("old 3\nnew 4\nnew 5\n");
    expect(proxied).toBe(false);
    expect(calls[0]).toEqual({ method: "Containers/WaitContainer", request: { container: "web" } });
  });

  it("tailOffset finds where the last N lines start", () => {
    const b = (s: string) => Buffer.from(s);
    expect(tailOffset(b("a\nb\nc\n"), 2)).toBe(2);
    expect(tailOffset(b("a\nb\nc"), 2)).toBe(2);
    expect(tailOffset(b("a\nb\nc\n"), 1)).toBe(4);
    expect(tailOffset(b("a\nb\n"), 5)).toBe(0);
    expect(tailOffset(b(""), 1)).toBe(0);
  });
});
