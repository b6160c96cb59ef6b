import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { createJetStreamEventPublisher, ensureStreams, serveHostCommands } from "@shoal/bus";
import type { HostCommandServer } from "@shoal/bus";
import { CONTAINER_EVENT_SCHEMA_VERSIONS, containerDecider, containerStreamId, ipcGroupStreamId } from "@shoal/domain";
import type { ContainerCommand, HostConfigInput } from "@shoal/domain";
import { createEventStore, createOutboxRelay, handleCommand } from "@shoal/event-store";
import type { EventStore, OutboxRelay } from "@shoal/event-store";
import { connectTestNats, createTestDatabase } from "@shoal/testing";
import type { TestDatabase, TestNats } from "@shoal/testing";

// kill -9 of the mount-manager process in the middle of a batch of starts (the preparation
// sends no host command: an owner's group, its mount order and its plan commit together, or
// not at all). A restarted process finishes every start exactly once: one
// ContainerIpcPrepared per start, one group formed, no failure, no MountShm sent.

const mainScript = fileURLToPath(new URL("./main.ts", import.meta.url));

let database: TestDatabase;
let nats: TestNats;
let store: EventStore;
let relay: OutboxRelay;
let agent: HostCommandServer;
let child: ChildProcess | undefined;
const mountCalls: string[] = [];
const unmountCalls: string[] = [];
let killAtUnmount = -1;

function startChild(): { proc: ChildProcess; exited: Promise<NodeJS.Signals | number | null> } {
  const proc = spawn(process.execPath, ["--import", "tsx", mainScript], {
    env: {
      ...process.env,
      SHOAL_DATABASE_URL: database.url,
      SHOAL_SUBJECT_PREFIX: nats.prefix,
      SHOAL_METRICS_PORT: "0",
      SHOAL_RECONCILE_INTERVAL_MS: "0",
      SHOAL_CONSUMER_ACK_WAIT_MS: "2000",
      SHOAL_HOST_COMMAND_TIMEOUT_MS: "2000",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  child = proc;
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => proc.on("exit", (code, signal) => resolve(signal ?? code)));
  return { proc, exited };
}

beforeAll(async () => {
  database = await createTestDatabase();
  nats = await connectTestNats();
  await ensureStreams(nats.jsm, nats.prefix);
  store = createEventStore({ db: database.db });
  relay = createOutboxRelay({ pool: database.pool, publisher: createJetStreamEventPublisher(nats.js, { prefix: nats.prefix }) });
  await relay.start();
  agent = serveHostCommands(nats.nc, {
    prefix: nats.prefix,
    host: "h1",
    handlers: {
      async MountShm(payload) {
        const { containerId } = payload as { containerId: string };
        mountCalls.push(containerId);
        return { shmMountPath: `/var/lib/shoal/containers/${containerId}/mounts/shm`, created: true };
      },
      async UnmountShm(payload) {
        unmountCalls.push((payload as { containerId: string }).containerId);
        if (unmountCalls.length === killAtUnmount) child?.kill("SIGKILL");
        return { unmounted: 1 };
      },
      async ListContainers() {
        return { containers: [] };
      },
    },
  });
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await agent?.stop();
  await relay?.stop();
  await nats?.cleanup();
  await database?.drop();
});

async function command(id: string, cmd: ContainerCommand): Promise<void> {
  await handleCommand(store, {
    streamId: containerStreamId(id),
    decider: containerDecider,
    command: cmd,
    eventId: () => randomUUID(),
    schemaVersion: (t) => CONTAINER_EVENT_SCHEMA_VERSIONS[t],
  });
}

async function createAndSchedule(name: string, hostConfig: HostConfigInput): Promise<string> {
  const id = randomBytes(32).toString("hex");
  const now = new Date().toISOString();
  await command(id, {
    type: "CreateContainer",
    data: { containerId: id, name, hostConfig, source: { kind: "rootfs", path: "/srv/rootfs" }, args: ["sh"], env: [], createdAt: now },
  });
  await command(id, { type: "StartContainer", data: { containerId: id, now, experimental: false } });
  await command(id, { type: "RecordScheduled", data: { containerId: id, now, host: "h1" } });
  return id;
}

describe("mount-manager killed with -9 mid-flow", () => {
  it("finishes every start exactly once after a restart", async () => {
    const first = startChild();
    const owners: string[] = [];
    const privates: string[] = [];
    for (let i = 0; i < 8; i++) owners.push(await createAndSchedule(`owner-${i}`, { ipcMode: "shareable" }));
    for (let i = 0; i < 4; i++) privates.push(await createAndSchedule(`private-${i}`, { ipcMode: "private" }));

    // Killed as soon as the first start of the batch is prepared, with the rest still to do.
    const preparedSoFar = async () =>
      (await sql<{ n: number }>`SELECT count(*)::int AS n FROM events WHERE type = 'ContainerIpcPrepared'`.execute(database.db)).rows[0]!.n;
    await expect.poll(preparedSoFar, { timeout: 30_000, interval: 5 }).toBeGreaterThan(0);
    first.proc.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");
    expect(await preparedSoFar()).toBeLessThan(12);
    const second = startChild();
    try {
      const outcomes = async () => {
        let done = 0;
        for (const id of [...owners, ...privates]) {
          const types = (await store.readStream(containerStreamId(id))).map((e) => e.type);
          if (types.includes("ContainerIpcPrepared") || types.includes("ContainerStartFailed")) done += 1;
        }
        return done;
      };
      await expect.poll(outcomes, { timeout: 45_000, interval: 200 }).toBe(12);

      for (const id of [...owners, ...privates]) {
        const types = (await store.readStream(containerStreamId(id))).map((e) => e.type);
        expect(types.filter((t) => t === "ContainerIpcPrepared")).toHaveLength(1);
        expect(types).not.toContain("ContainerStartFailed");
      }
      for (const id of owners) {
        expect((await store.readStream(ipcGroupStreamId(id))).map((e) => e.type)).toEqual(["IpcGroupFormed", "ShmMountCreated"]);
      }
      // The owners' agents mount as part of their starts: the mount-manager asked no host.
      expect(mountCalls).toEqual([]);
    } finally {
      second.proc.kill("SIGTERM");
      expect(await second.exited).toBe(0);
    }
  });

  it("releases every mount exactly once when killed between UnmountShm and recording it", async () => {
    const first = startChild();
    const owners: string[] = [];
    for (let i = 0; i < 6; i++) owners.push(await createAndSchedule(`exit-owner-${i}`, { ipcMode: "shareable" }));
    const prepared = async () => {
      let n = 0;
      for (const id of owners) if ((await store.readStream(containerStreamId(id))).some((e) => e.type === "ContainerIpcPrepared")) n += 1;
      return n;
    };
    await expect.poll(prepared, { timeout: 30_000, interval: 200 }).toBe(6);

    killAtUnmount = 2;
    const now = new Date().toISOString();
    for (const [i, id] of owners.entries()) {
      await command(id, {
        type: "RecordStarted",
        data: { containerId: id, now, pid: 100 + i, runtime: { name: "runc", path: "/usr/sbin/runc", args: [] }, configVersion: 1 },
      });
      await command(id, { type: "RecordExited", data: { containerId: id, exitCode: 0, exitedAt: now } });
    }
    expect(await first.exited).toBe("SIGKILL");

    const second = startChild();
    try {
      const removed = async () => {
        let n = 0;
        for (const id of owners) if ((await store.readStream(ipcGroupStreamId(id))).some((e) => e.type === "ShmMountRemoved")) n += 1;
        return n;
      };
      await expect.poll(removed, { timeout: 45_000, interval: 200 }).toBe(6);
      for (const id of owners) {
        const types = (await store.readStream(ipcGroupStreamId(id))).map((e) => e.type);
        expect(types).toEqual(["IpcGroupFormed", "ShmMountCreated", "ShmMountRemoved"]);
        expect(unmountCalls).toContain(id);
      }
      // Only the unmount in flight at the kill was sent twice (UnmountShm is idempotent on the host).
      expect(owners.filter((id) => unmountCalls.filter((c) => c === id).length > 1).length).toBeLessThanOrEqual(1);
    } finally {
      killAtUnmount = -1;
      second.proc.kill("SIGTERM");
      expect(await second.exited).toBe(0);
    }
  });
});
