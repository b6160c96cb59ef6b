/**
 * `shoal run` without -d against the real stack: prints the container's output and exits with
 * the container's code; 126 and 127 when the command cannot be started, as `docker run`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack } from "./stack";
import type { E2eStack } from "./stack";

let stack: E2eStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.teardown();
});

describe("shoal run (attached) through the real stack", () => {
  it("lists the stack's one agent as a ready host", async () => {
    const r = await stack.cli(["hosts", "--format", "json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(r.stdout))).toContain(stack.host);
  });

  it("prints the container's output and exits with its code", async () => {
    const r = await stack.cli(["run", "--rootfs", stack.rootfs, "/bin/sh", "-c", "echo hello from shoal; echo oops >&2; exit 3"]);
    // The api keeps one merged log per container (ContainerLogsResponse.output), so both
    // streams reach the CLI's stdout.
    expect(r.stdout).toContain("hello from shoal");
    expect(r.stdout).toContain("oops");
    expect(r.code).toBe(3);
  });

  it("exits 0 when the container does", async () => {
    const r = await stack.cli(["run", "--rm", "--rootfs", stack.rootfs, "/bin/echo", "done"]);
    expect(r).toMatchObject({ code: 0, stdout: "done\n" });
  });

  it("prints the whole output of a short-lived --rm container, every time", async () => {
    // docker run --rm never loses the output of a command that exits at once; the container's
    // auto-removal must not win against the CLI's last read of the output.
    const outputs: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await stack.cli(["run", "--rm", "--rootfs", stack.rootfs, "/bin/echo", `line ${i}`]);
      expect(r.code, r.stderr).toBe(0);
      outputs.push(r.stdout);
    }
    expect(outputs).toEqual(Array.from({ length: 10 }, (_, i) => `line ${i}\n`));
  });

  it("exits 127 when the command does not exist, 126 when it cannot be executed", async () => {
    const missing = await stack.cli(["run", "--rm", "--rootfs", stack.rootfs, "/no/such/binary"]);
    expect(missing.code, missing.stderr).toBe(127);
    expect(missing.stderr).toMatch(/no such file|not found/i);

    const notExecutable = await stack.cli(["run", "--rm", "--rootfs", stack.rootfs, "/etc/passwd"]);
    expect(notExecutable.code, notExecutable.stderr).toBe(126);
    expect(notExecutable.stderr).toMatch(/permission denied/i);
  });
});
