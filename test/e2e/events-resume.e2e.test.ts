/**
 * Event subscriptions against the real stack: a subscriber that disconnects while the log
 * keeps growing and resumes from its last cursor receives every event exactly once, in
 * order (each stream's versions 1, 2, 3… with no gap), through gRPC and through
 * `shoal events --cursor`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { Status, eventually, startStack } from "./stack";
import type { E2eStack, GrpcError } from "./stack";

let stack: E2eStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.teardown();
});

interface Received {
  cursor: string;
  event_id: string;
  type: string;
  stream_id: string;
  stream_version: string;
}

/** Subscribes and collects events until `enough(received)` holds, then disconnects. */
async function collect(request: object, enough: (received: Received[]) => boolean): Promise<Received[]> {
  const received: Received[] = [];
  const call = stack.subscribe(request);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      call.cancel();
      reject(new Error(`subscription got ${received.length} events and no more within 60 s`));
    }, 60_000);
    call.on("data", (e: Received) => {
      received.push(e);
      if (enough(received)) {
        clearTimeout(timer);
        call.cancel(); // the client disconnects mid-stream
        resolve();
      }
    });
    call.on("error", (err: GrpcError) => {
      clearTimeout(timer);
      if (err.code === Status.CANCELLED) resolve();
      else reject(err);
    });
  });
  return received;
}

/** Generates events: containers run to completion plus a config change. */
async function activity(tag: string, containers: number): Promise<void> {
  await Promise.all(
    Array.from({ length: containers }, async (_, i) => {
      const r = await stack.cli(["run", "-d", "--name", `${tag}-${i}`, "--rootfs", stack.rootfs, "/bin/sh", "-c", "exit 0"]);
      expect(r.code, r.stderr).toBe(0);
    }),
  );
  const r = await stack.cli(["config", "set", `default-shm-size=${64 + containers}m`]);
  expect(r.code, r.stderr).toBe(0);
}

async function logEventIds(): Promise<string[]> {
  const r = await sql<{ event_id: string }>`SELECT event_id::text FROM events`.execute(stack.db);
  return r.rows.map((row) => row.event_id);
}

/** Every stream's versions arrive as 1, 2, 3… and each event once. */
function expectOnceInOrder(events: Received[]): void {
  const ids = events.map((e) => e.event_id);
  expect(new Set(ids).size).toBe(ids.length);
  const versions = new Map<string, number>();
  for (const e of events) {
    const next = (versions.get(e.stream_id) ?? 0) + 1;
    expect(`${e.stream_id}@${e.stream_version}`).toBe(`${e.stream_id}@${next}`);
    versions.set(e.stream_id, next);
  }
}

async function quiesced(): Promise<number> {
  // The containers all exited (each stream ends with ContainerExited) and nothing more is appended.
  let last = -1;
  return eventually("the log to stop growing", async () => {
    const n = await stack.eventCount();
    const running = await sql<{ n: number }>`SELECT count(*)::int AS n FROM containers WHERE status NOT IN ('exited', 'created')`.execute(stack.db);
    if (n === last && running.rows[0]!.n === 0) return n;
    last = n;
    await new Promise((resolve) => setTimeout(resolve, 500));
    return undefined;
  });
}

describe("Events.Subscribe resumes from a cursor", () => {
  it("delivers every event once, in order, across a disconnect while the log grows", async () => {
    await activity("before", 3);
    // First connection: from the start of the log, following live; disconnect part-way
    // through while more containers start.
    const more = activity("during", 4);
    const first = await collect({}, (r) => r.length >= 12);
    await more;
    await activity("after", 3); // appended while nobody is subscribed
    const total = await quiesced();

    const resumeFrom = first.at(-1)!.cursor;
    const second = await collect({ since_cursor: resumeFrom }, (r) => first.length + r.length >= total);
    const all = [...first, ...second];
    expectOnceInOrder(all);
    expect(all.map((e) => e.event_id).sort()).toEqual((await logEventIds()).sort());
    expect(all.map((e) => e.type)).toContain("ContainerStarted");
    expect(all.map((e) => e.type)).toContain("DaemonConfigChanged");

    // The CLI resumes from the same cursor and prints the same events (until now, no follow).
    const cli = await stack.cli(["events", "--cursor", resumeFrom, "--until", new Date(Date.now() + 1000).toISOString(), "--format", "json"]);
    expect(cli.code, cli.stderr).toBe(0);
    const lines = cli.stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
    expect(lines.length).toBe(second.length);
    expect(JSON.stringify(lines)).toContain(second[0]!.event_id);
    expect(JSON.stringify(lines)).toContain(second.at(-1)!.event_id);
  });

  it("resuming from the last cursor of a quiet log waits for the next event and delivers only it", async () => {
    const total = await quiesced();
    const all = await collect({}, (r) => r.length >= total);
    const cursor = all.at(-1)!.cursor;
    const next = collect({ since_cursor: cursor }, () => true);
    const r = await stack.cli(["config", "set", "default-shm-size=80m"]);
    expect(r.code, r.stderr).toBe(0);
    const [event] = await next;
    expect(event!.type).toBe("DaemonConfigChanged");
    expect(all.map((e) => e.event_id)).not.toContain(event!.event_id);
  });

  it("a malformed cursor is INVALID_ARGUMENT, not a silent start from the beginning", async () => {
    await expect(collect({ since_cursor: "not-a-cursor" }, () => true)).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT });
  });
});
