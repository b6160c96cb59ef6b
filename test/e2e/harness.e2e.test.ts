/**
 * The e2e harness's own promise: `teardown()` leaves nothing behind, even after the agent
 * was killed with containers still running — no service, containerd, shim or container
 * process, no mount, no cgroup, no JetStream stream, no database.
 */
import { readFile, readdir } from "node:fs/promises";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { connectTestNats } from "@shoal/testing";
import { mountPoints, startStack } from "./stack";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids whose command line mentions `needle`. */
async function processesMentioning(needle: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(needle)) found.push(Number(entry));
  }
  return found;
}

describe("the e2e harness", () => {
  it("tears a stack down completely, even with the agent killed and containers running", async () => {
    const stack = await startStack();
    let torn = false;
    try {
      for (const [name, ipc] of [
        ["h-owner", "shareable"],
        ["h-member", "container:h-owner"],
      ]) {
        const r = await stack.cli(["run", "-d", "--name", name!, "--ipc", ipc!, "--rootfs", stack.rootfs, "/bin/sleep", "3600"]);
        expect(r.code, r.stderr).toBe(0);
      }
      const containerPids = await Promise.all(
        ["h-owner", "h-member"].map(async (n) => (await stack.call<any>("Containers", "InspectContainer", { container: n })).container.state.pid as number),
      );
      expect(containerPids.every(alive)).toBe(true);
      expect((await stack.mountsUnderStateRoot()).length).toBeGreaterThan(0);
      const servicePids = stack.servicePids();
      expect(servicePids).toHaveLength(4);
      await stack.kill9("runtime-agent");

      const dbName = new URL(stack.database.url).pathname.slice(1);
      const streamPrefix = `${stack.prefix.toUpperCase()}_`;
      const { socket } = stack.containerd;
      const { stateRoot, runDir, host } = stack;

      await stack.teardown();
      torn = true;

      expect(servicePids.filter(alive)).toEqual([]);
      expect(containerPids.filter(alive)).toEqual([]);
      expect(await processesMentioning(socket)).toEqual([]); // containerd and its shims
      const left = (await mountPoints()).filter((m) => [stateRoot, runDir, socket.replace(/\/[^/]+$/, "")].some((p) => m === p || m.startsWith(`${p}/`)));
      expect(left).toEqual([]);
      for (const controller of await readdir("/sys/fs/cgroup")) {
        const entries = await readdir(`/sys/fs/cgroup/${controller}`).catch(() => [] as string[]);
        expect(entries, controller).not.toContain(`shoal-${host}`);
      }

      const admin = new pg.Client({ host: process.env.PGHOST || "127.0.0.1", port: Number(process.env.PGPORT || 5432), user: process.env.PGUSER || "postgres", database: "postgres" });
      await admin.connect();
      try {
        const r = await admin.query("SELECT count(*)::int AS n FROM pg_database WHERE datname = $1", [dbName]);
        expect(r.rows[0].n).toBe(0);
      } finally {
        await admin.end();
      }
      const nats = await connectTestNats();
      try {
        const names: string[] = [];
        for await (const info of nats.jsm.streams.list()) names.push(info.config.name);
        expect(names.filter((n) => n.startsWith(streamPrefix))).toEqual([]);
      } finally {
        await nats.cleanup();
      }
    } finally {
      if (!torn) await stack.teardown();
    }
  });
});
