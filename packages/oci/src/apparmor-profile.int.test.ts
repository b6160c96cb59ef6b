/**
 * The default profile's text is policy the real AppArmor parser compiles. These kernels have
 * AppArmor off, so the parser compiles without loading (-Q); where AppArmor is on, the agent
 * loads the same text with -Kr. Needs Debian's `apparmor` package (`npm test` installs it).
 */
import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import { DEFAULT_APPARMOR_PROFILE, DEFAULT_APPARMOR_PROFILE_TEXT } from "./apparmor-profile";

const PARSER = "/sbin/apparmor_parser";

/** `apparmor_parser -QK <args>` with `text` on stdin: compile only, no kernel load, no cache. */
function compile(text: string, args: string[] = []): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(PARSER, ["-QK", ...args], { encoding: "utf8", env: { ...process.env, LC_ALL: "C" } }, (err, stdout, stderr) => {
      if ((err as NodeJS.ErrnoException | null)?.code === "ENOENT") {
        return reject(new Error(`prerequisite missing: ${PARSER} (Debian's apparmor package; \`npm test\` installs it)`));
      }
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(text);
  });
}

describe("the default AppArmor profile", () => {
  it("compiles with apparmor_parser and defines exactly the profile specs name", async () => {
    const r = await compile(DEFAULT_APPARMOR_PROFILE_TEXT);
    expect(r.output).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const names = await compile(DEFAULT_APPARMOR_PROFILE_TEXT, ["--names"]);
    expect(names.output.split("\n").filter((l) => l !== "" && !l.startsWith("Cache"))).toEqual([DEFAULT_APPARMOR_PROFILE]);
  });

  it("the parser refuses a broken text (so the pass above means something)", async () => {
    const r = await compile(DEFAULT_APPARMOR_PROFILE_TEXT.replace("  umount,\n", "  umount,\n  bogus rule here,\n"));
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/error/i);
  });
});
