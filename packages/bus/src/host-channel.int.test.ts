import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from "@shoal/domain";
import { connectTestNats } from "@shoal/testing";
import type { TestNats } from "@shoal/testing";
import type { BusLogger } from "./bus-logger";
import {
  decodeHostReport,
  publishHeartbeat,
  publishHostReport,
  sendHostCommand,
  serveHostCommands,
  subscribeHeartbeats,
} from "./host-channel";
import type { HostCommandServer, HostHeartbeat } from "./host-channel";
import { ensureStreams } from "./streams";

let t: TestNats;
const servers: HostCommandServer[] = [];
const quiet: BusLogger = { info: () => {}, warn: () => {}, error: () => {} };

beforeAll(async () => {
  t = await connectTestNats();
  await ensureStreams(t.jsm, t.prefix);
});
afterAll(async () => {
  for (const s of servers) await s.stop();
  await t?.cleanup();
});

function serve(host: string, handlers: Parameters<typeof serveHostCommands>[1]["handlers"]) {
  const s = serveHostCommands(t.nc, { prefix: t.prefix, host, handlers, logger: quiet });
  servers.push(s);
  return s;
}

describe("host commands over NATS request/reply (real server)", () => {
  it("delivers the payload to the named host and returns its result", async () => {
    serve("node-a", { Echo: async (p) => ({ host: "node-a", got: p }) });
    serve("node-b", { Echo: async (p) => ({ host: "node-b", got: p }) });
    await t.nc.flush();
    const r = await sendHostCommand<{ host: string; got: unknown }>(t.nc, {
      prefix: t.prefix,
      host: "node-b",
      command: "Echo",
      payload: { id: "c1", size: 64 },
      timeoutMs: 5_000,
    });
    expect(r).toEqual({ host: "node-b", got: { id: "c1", size: 64 } });
  });

  it("rethrows a handler's ShoalError as the same class with its message", async () => {
    serve("node-err", {
      Start: async () => {
        throw new FailedPreconditionError("container x is not running");
      },
      Find: async () => {
        throw new NotFoundError("no such container: y");
      },
      Crash: async () => {
        throw new TypeError("cannot read properties of undefined (secret internals)");
      },
    });
    await t.nc.flush();
    const send = (command: string) =>
      sendHostCommand(t.nc, { prefix: t.prefix, host: "node-err", command, payload: {}, timeoutMs: 5_000 });

    const start = await send("Start").catch((e: unknown) => e);
    expect(start).toBeInstanceOf(FailedPreconditionError);
    expect((start as Error).message).toBe("container x is not running");

    await expect(send("Find")).rejects.toBeInstanceOf(NotFoundError);

    const crash = await send("Crash").catch((e: unknown) => e);
    expect(crash).toBeInstanceOf(InternalError);
    expect((crash as Error).message).not.toContain("secret internals");

    await expect(send("NoSuchCommand")).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("says the host is not answering when no agent listens", async () => {
    const err = await sendHostCommand(t.nc, {
      prefix: t.prefix,
      host: "ghost",
      command: "Echo",
      timeoutMs: 5_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toBe("host ghost is not answering");
  });

  it("gives UnavailableError when the agent does not answer in time", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const server = serve("node-slow", { Hang: async () => gate });
    await t.nc.flush();
    try {
      const err = await sendHostCommand(t.nc, {
        prefix: t.prefix,
        host: "node-slow",
        command: "Hang",
        timeoutMs: 200,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as Error).message).toContain("did not answer Hang");
    } finally {
      release();
      await server.stop();
    }
  });

  it("refuses host and command names that would change the subject", async () => {
    await expect(
      sendHostCommand(t.nc, { prefix: t.prefix, host: "a.b", command: "Echo", timeoutMs: 1_000 }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(
      sendHostCommand(t.nc, { prefix: t.prefix, host: "a", command: "*", timeoutMs: 1_000 }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => serveHostCommands(t.nc, { prefix: t.prefix, host: ">", handlers: {} })).toThrow(InvalidArgumentError);
  });

  it("after stop() the host no longer answers", async () => {
    const s = serve("node-stop", { Echo: async () => "ok" });
    await t.nc.flush();
    expect(await sendHostCommand(t.nc, { prefix: t.prefix, host: "node-stop", command: "Echo", timeoutMs: 5_000 })).toBe(
      "ok",
    );
    await s.stop();
    await expect(
      sendHostCommand(t.nc, { prefix: t.prefix, host: "node-stop", command: "Echo", timeoutMs: 5_000 }),
    ).rejects.toThrow("host node-stop is not answering");
  });
});

describe("host reports and heartbeats (real server)", () => {
  it("stores a report once per report id and decodes it", async () => {
    const reportId = randomUUID();
    const opts = {
      prefix: t.prefix,
      host: "node-a",
      type: "ContainerExited",
      payload: { containerId: "c1", exitCode: 137 },
      reportId,
      reportedAt: new Date("2026-05-06T07:08:09.000Z"),
    };
    const first = await publishHostReport(t.js, opts);
    const again = await publishHostReport(t.js, opts);
    expect(first.duplicate).toBe(false);
    expect(again).toEqual({ seq: first.seq, duplicate: true });

    const stored = await t.jsm.streams.getMessage(`${t.prefix.toUpperCase()}_REPORTS`, { seq: first.seq });
    expect(stored?.subject).toBe(`${t.prefix}.host.node-a.report.ContainerExited`);
    expect(stored && decodeHostReport(stored)).toEqual({
      reportId,
      host: "node-a",
      type: "ContainerExited",
      payload: { containerId: "c1", exitCode: 137 },
      reportedAt: new Date("2026-05-06T07:08:09.000Z"),
    });
  });

  it("delivers heartbeats with the host taken from the subject", async () => {
    const beats: HostHeartbeat[] = [];
    const sub = subscribeHeartbeats(t.nc, { prefix: t.prefix, onHeartbeat: (b) => beats.push(b), logger: quiet });
    try {
      await t.nc.flush();
      publishHeartbeat(t.nc, { prefix: t.prefix, host: "node-a", details: { containers: 3 } });
      // A heartbeat whose body claims another host is attributed to the subject's host.
      t.nc.publish(`${t.prefix}.host.node-b.heartbeat`, JSON.stringify({ host: "node-a", sentAt: new Date().toISOString() }));
      await t.nc.flush();
      const deadline = Date.now() + 10_000;
      while (beats.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(beats.map((b) => b.host).sort()).toEqual(["node-a", "node-b"]);
      expect(beats.find((b) => b.host === "node-a")?.details).toEqual({ containers: 3 });
    } finally {
      await sub.stop();
    }
  });
});
