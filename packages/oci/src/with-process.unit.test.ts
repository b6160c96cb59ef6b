import { describe, expect, it } from "vitest";
import { InternalError, InvalidArgumentError } from "@shoal/domain";
import { OCI_VERSION, type Spec } from "./spec";
import { withCapabilities, DEFAULT_CAPABILITIES } from "./with-capabilities";
import { DEFAULT_PATH_ENV, execProcessSpec, withProcess } from "./with-process";
import { withSecurityOpts } from "./with-security-opts";

const empty: Spec = { ociVersion: OCI_VERSION };

describe("withProcess", () => {
  it.each([
    ["no env: default PATH", { args: ["/bin/true"] }, [DEFAULT_PATH_ENV]],
    ["env without PATH: PATH added first", { args: ["/bin/true"], env: ["A=1"] }, [DEFAULT_PATH_ENV, "A=1"]],
    ["env with PATH: kept as given", { args: ["/bin/true"], env: ["PATH=/x", "A=1"] }, ["PATH=/x", "A=1"]],
  ])("%s", (_name, input, env) => {
    expect(withProcess(input)(empty).process).toEqual({ args: ["/bin/true"], env, cwd: "/", user: { uid: 0, gid: 0 } });
  });

  it("keeps user, cwd and terminal", () => {
    const p = withProcess({ args: ["sh"], cwd: "/work", user: { uid: 1000, gid: 1000, additionalGids: [10] }, terminal: true })(empty).process;
    expect(p).toMatchObject({ cwd: "/work", user: { uid: 1000, gid: 1000, additionalGids: [10] }, terminal: true });
  });

  it.each([
    ["empty args", { args: [] }],
    ["relative cwd", { args: ["sh"], cwd: "work" }],
    ["env entry without =", { args: ["sh"], env: ["NOEQUALS"] }],
    ["negative uid", { args: ["sh"], user: { uid: -1, gid: 0 } }],
  ])("rejects %s with InvalidArgumentError", (_name, input) => {
    expect(() => withProcess(input)).toThrow(InvalidArgumentError);
  });
});

describe("execProcessSpec", () => {
  const container = [
    withProcess({ args: ["/bin/sleep", "1000"], env: ["A=1", "B=2"], cwd: "/srv", user: { uid: 1000, gid: 1000 } }),
    withCapabilities(false),
    withSecurityOpts(["no-new-privileges", "apparmor=web"], { apparmorEnabled: true, privileged: false }),
  ].reduce((s, f) => f(s), empty);

  it("inherits the container's AppArmor profile, capabilities, user and noNewPrivileges", () => {
    const p = execProcessSpec(container, { args: ["/bin/ps"] });
    expect(p.apparmorProfile).toBe("web");
    expect(p.noNewPrivileges).toBe(true);
    expect(p.capabilities?.bounding).toEqual([...DEFAULT_CAPABILITIES]);
    expect(p.capabilities?.effective).toEqual([...DEFAULT_CAPABILITIES]);
    expect(p.user).toEqual({ uid: 1000, gid: 1000 });
    expect(p.cwd).toBe("/srv");
    expect(p.args).toEqual(["/bin/ps"]);
  });

  it("a privileged container's exec is unconfined too", () => {
    const privileged = withSecurityOpts([], { apparmorEnabled: true, privileged: true })(container);
    expect(execProcessSpec(privileged, { args: ["sh"] }).apparmorProfile).toBe("unconfined");
  });

  it("merges env (exec entries win by key) and honours cwd and user overrides", () => {
    const p = execProcessSpec(container, { args: ["env"], env: ["B=3", "C=4"], cwd: "/tmp", user: { uid: 0, gid: 0 } });
    expect(p.env).toEqual([DEFAULT_PATH_ENV, "A=1", "B=3", "C=4"]);
    expect(p.cwd).toBe("/tmp");
    expect(p.user).toEqual({ uid: 0, gid: 0 });
    // Overriding the user does not drop confinement.
    expect(p.apparmorProfile).toBe("web");
  });

  it("does not share objects with the container spec", () => {
    const p = execProcessSpec(container, { args: ["sh"] });
    p.capabilities?.bounding?.push("CAP_SYS_ADMIN");
    expect(container.process?.capabilities?.bounding).not.toContain("CAP_SYS_ADMIN");
  });

  it("needs a container spec with a process", () => {
    expect(() => execProcessSpec(empty, { args: ["sh"] })).toThrow(InternalError);
    expect(() => execProcessSpec(container, { args: [] })).toThrow(InvalidArgumentError);
  });
});
