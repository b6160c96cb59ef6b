import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { InvalidArgumentError } from "@shoal/domain";
import { createConfigSnapshot } from "./config-snapshot";
import { parseDaemonConfig } from "./daemon-config";
import {
  isWrapperFileName,
  planStaleWrapperRemoval,
  resolveRuntime,
  wrapperFileName,
  wrapperFileNamesOf,
  wrapperScript,
  wrapperSha,
  wrapperTempFileName,
} from "./runtime-wrappers";

const dir = "/var/lib/shoal/runtimes";
const snapshot = createConfigSnapshot(
  7,
  parseDaemonConfig({
    runtimes: {
      crun: { path: "/usr/bin/crun" },
      "runc-debug": { path: "/usr/sbin/runc", runtimeArgs: ["--debug", "--log-format=json"] },
    },
    "default-runtime": "runc-debug",
  }),
);

describe("wrapperScript", () => {
  it("execs the binary with the runtime's args, then the caller's", () => {
    expect(wrapperScript({ path: "/usr/sbin/runc", runtimeArgs: ["--debug", "--root=/run/x"] })).toBe(
      `#!/bin/sh\nexec '/usr/sbin/runc' '--debug' '--root=/run/x' "$@"\n`,
    );
  });

  it("quotes single quotes, spaces, $ and newlines so sh takes them literally", () => {
    expect(wrapperScript({ path: "/opt/my runtime/bin", runtimeArgs: ["it's", "$HOME `x`", "a\nb", ""] })).toBe(
      `#!/bin/sh\nexec '/opt/my runtime/bin' 'it'\\''s' '$HOME \`x\`' 'a\nb' '' "$@"\n`,
    );
  });

  it("refuses a NUL byte, which no program argument can hold", () => {
    expect(() => wrapperScript({ path: "/bin/x", runtimeArgs: ["a\0b"] })).toThrow(InvalidArgumentError);
  });
});

describe("wrapperFileName", () => {
  it("is runtime- and the full SHA-256 of the script", () => {
    // sha256 of the empty string, a known value.
    expect(wrapperFileName("")).toBe("runtime-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const script = wrapperScript({ path: "/bin/x", runtimeArgs: ["-a"] });
    expect(wrapperFileName(script)).toBe(`runtime-${wrapperSha(script)}`);
    expect(isWrapperFileName(wrapperFileName(script))).toBe(true);
  });

  it("same runtime, same name; any change to path or args, a new name", () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.array(fc.string(), { maxLength: 4 }),
        fc.array(fc.string(), { maxLength: 4 }),
        (path, a, b) => {
          fc.pre(![path, ...a, ...b].some((s) => s.includes("\0")));
          const nameA = wrapperFileName(wrapperScript({ path: `/${path}`, runtimeArgs: a }));
          const nameB = wrapperFileName(wrapperScript({ path: `/${path}`, runtimeArgs: b }));
          expect(nameA === nameB).toBe(JSON.stringify(a) === JSON.stringify(b));
        },
      ),
    );
  });
});

describe("resolveRuntime", () => {
  it("uses the default runtime when no name (or an empty one) is given", () => {
    expect(resolveRuntime(snapshot, undefined, dir).name).toBe("runc-debug");
    expect(resolveRuntime(snapshot, "", dir).name).toBe("runc-debug");
  });

  it("a runtime without args runs its binary directly", () => {
    expect(resolveRuntime(snapshot, "crun", dir)).toEqual({ name: "crun", path: "/usr/bin/crun", args: [] });
    expect(resolveRuntime(snapshot, "runc", dir)).toEqual({ name: "runc", path: "runc", args: [] });
  });

  it("a runtime with args runs through its content-addressed wrapper in the wrapper dir", () => {
    const script = wrapperScript({ path: "/usr/sbin/runc", runtimeArgs: ["--debug", "--log-format=json"] });
    expect(resolveRuntime(snapshot, "runc-debug", dir)).toEqual({
      name: "runc-debug",
      path: `${dir}/${wrapperFileName(script)}`,
      args: ["--debug", "--log-format=json"],
      wrapperSha: wrapperSha(script),
    });
  });

  it("refuses an unknown name as Docker does, including names of Object's own properties", () => {
    for (const name of ["kata", "constructor", "toString", "__proto__"]) {
      expect(() => resolveRuntime(snapshot, name, dir)).toThrow(
        new InvalidArgumentError(`unknown or invalid runtime name: ${name}`),
      );
    }
  });

  it("the result is a fresh, mutable copy: the frozen snapshot is untouched", () => {
    const locked = resolveRuntime(snapshot, "runc-debug", dir);
    locked.args.push("--changed");
    expect(snapshot.config.runtimes["runc-debug"]!.runtimeArgs).toEqual(["--debug", "--log-format=json"]);
  });
});

describe("wrapperFileNamesOf", () => {
  it("lists one wrapper per runtime with args", () => {
    expect(wrapperFileNamesOf(snapshot)).toEqual([
      wrapperFileName(wrapperScript({ path: "/usr/sbin/runc", runtimeArgs: ["--debug", "--log-format=json"] })),
    ]);
  });
});

const sha = fc.stringMatching(/^[0-9a-f]{64}$/);
const wrapperName = sha.map((s) => `runtime-${s}`);
const tempName = sha.map((s) => wrapperTempFileName(`runtime-${s}`, "123-abcdef"));
const foreignName = fc.oneof(fc.constantFrom("README", "runtime-abc", "runtime-", "kata.sh"), fc.string({ minLength: 1 }));

describe("planStaleWrapperRemoval", () => {
  it("removes only wrappers nobody uses; in-use may be given as full paths", () => {
    const [a, b, c, d] = ["a", "b", "c", "d"].map((ch) => `runtime-${ch.repeat(64)}`) as [string, string, string, string];
    const temp = wrapperTempFileName(a, "42-ff00");
    const plan = planStaleWrapperRemoval({
      present: [a, b, c, d, temp, "notes.txt"],
      inUse: new Set([`${dir}/${a}`]),
      current: [b],
    });
    expect(plan).toEqual({ remove: [c, d, temp], keep: [a, b], unknown: ["notes.txt"] });
  });

  it("properties: never removes what is in use or current, never touches foreign files, removes every stale wrapper", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(wrapperName, { maxLength: 12 }),
        fc.array(tempName, { maxLength: 3 }),
        fc.array(foreignName, { maxLength: 4 }),
        fc.func(fc.nat({ max: 3 })),
        fc.boolean(),
        (wrappers, temps, foreign, role, asPaths) => {
          // role: 0 stale, 1 in use, 2 current, 3 both
          const inUse = new Set(wrappers.filter((w) => role(w) % 2 === 1).map((w) => (asPaths ? `${dir}/${w}` : w)));
          const current = wrappers.filter((w) => role(w) >= 2);
          const present = [...wrappers, ...temps, ...foreign];
          const plan = planStaleWrapperRemoval({ present, inUse, current });

          const used = new Set([...wrappers.filter((w) => role(w) !== 0)]);
          for (const name of plan.remove) {
            expect(used.has(name)).toBe(false);
            expect(isWrapperFileName(name) || temps.includes(name)).toBe(true);
          }
          for (const f of foreign) {
            if (!isWrapperFileName(f) && !temps.includes(f)) expect(plan.remove).not.toContain(f);
          }
          for (const w of wrappers) expect(plan.remove.includes(w)).toBe(!used.has(w));
          for (const t of temps) expect(plan.remove).toContain(t);
          // The buckets partition the distinct present names.
          const all = [...plan.remove, ...plan.keep, ...plan.unknown];
          expect(all.length).toBe(new Set(present).size);
          expect(new Set(all)).toEqual(new Set(present));
        },
      ),
    );
  });
});
