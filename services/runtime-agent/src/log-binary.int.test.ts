import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureLogBinary } from "./log-binary";
import type { LogBinary } from "./log-binary";

// Both loggers, driven the way containerd's shim drives them (stdout pipe on fd 3, stderr on
// fd 4, fd 5 read to EOF as "ready", SIGTERM on delete). The agent's log tests run the one
// the agent picks through real containerd; these pin the protocol for each, with no shim.

let dir: string;
let compiled: LogBinary;
let shell: LogBinary;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "shoal-logger-"));
  compiled = await ensureLogBinary(join(dir, "run"), { cacheDir: join(dir, "cache") });
  shell = await ensureLogBinary(join(dir, "run"), { cacheDir: join(dir, "cache-none"), compiler: join(dir, "no-such-cc") });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("ensureLogBinary", () => {
  it("compiles the C logger into the cache once and reuses it; without a compiler it falls back to the shell script, saying why", async () => {
    expect(compiled.kind, compiled.fallbackReason).toBe("compiled");
    expect(compiled.path.startsWith(join(dir, "cache"))).toBe(true);
    const before = await stat(compiled.path);
    const again = await ensureLogBinary(join(dir, "run"), { cacheDir: join(dir, "cache") });
    expect(again).toEqual(compiled);
    expect((await stat(compiled.path)).mtimeMs).toBe(before.mtimeMs);

    expect(shell.kind).toBe("shell");
    expect(shell.fallbackReason).toMatch(/no-such-cc/);
    expect(shell.path.startsWith(join(dir, "run"))).toBe(true);
  });
});

/** Starts `logger` as the shim does; resolves `ready` when it has closed fd 5. */
function startLogger(logger: string, args: string[]) {
  const child = spawn(logger, args, { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe", "pipe"] });
  const [, , stderr, out, err, readyPipe] = child.stdio as unknown as [null, null, Readable, Writable, Writable, Readable];
  let diagnostics = "";
  stderr.on("data", (d: Buffer) => (diagnostics += d.toString()));
  const ready = new Promise<void>((resolve) => {
    readyPipe.on("data", () => undefined);
    readyPipe.on("end", resolve);
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const write = (stream: Writable, text: string) => new Promise<void>((resolve, reject) => stream.write(text, (e) => (e ? reject(e) : resolve())));
  return { child, out, err, ready, exited, write, diagnostics: () => diagnostics };
}

describe.each([
  ["compiled", () => compiled],
  ["shell", () => shell],
])("the %s logger", (_kind, logger) => {
  it("says ready first, keeps every line of both streams through SIGTERM, and exits 0 once both pipes close", async () => {
    const outFile = join(dir, `${_kind}-out.log`);
    const errFile = join(dir, `${_kind}-err.log`);
    // Map order: the shim may pass the pairs either way round.
    const l = startLogger(logger().path, ["err", errFile, "out", outFile]);
    await l.ready;
    const expectedOut: string[] = [];
    const expectedErr: string[] = [];
    for (let i = 0; i < 200; i++) {
      if (i === 100) l.child.kill("SIGTERM"); // what the shim sends on delete, before the pipes end
      expectedOut.push(`out ${i}`);
      expectedErr.push(`err ${i}`);
      await l.write(l.out, `out ${i}\n`);
      await l.write(l.err, `err ${i}\n`);
    }
    l.out.end();
    l.err.end();
    expect(await l.exited, l.diagnostics()).toBe(0);
    expect((await readFile(outFile, "utf8")).split("\n").filter(Boolean)).toEqual(expectedOut);
    expect((await readFile(errFile, "utf8")).split("\n").filter(Boolean)).toEqual(expectedErr);
  });

  it("appends both streams to one file, byte for byte, when given the same file twice (as the agent does)", async () => {
    const file = join(dir, `${_kind}-both.log`);
    const l = startLogger(logger().path, ["out", file, "err", file]);
    await l.ready;
    const big = "x".repeat(1024 * 1024 - 1) + "\n"; // more than a pipe holds: the logger must keep reading
    await Promise.all([l.write(l.out, big), l.write(l.err, "err line\n")]);
    l.out.end();
    l.err.end();
    expect(await l.exited, l.diagnostics()).toBe(0);
    const text = await readFile(file, "utf8");
    expect(text.length).toBe(big.length + "err line\n".length);
    // The streams interleave in whole reads: the short write stays whole, maybe inside the long one.
    expect(text.replace("err line\n", "")).toBe(big);
  });
});
