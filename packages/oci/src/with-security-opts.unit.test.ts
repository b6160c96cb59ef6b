import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "@shoal/domain";
import { OCI_VERSION, type Spec } from "./spec";
import { withProcess } from "./with-process";
import { parseSecurityOpts, withAppArmor, withSecurityOpts } from "./with-security-opts";

const spec: Spec = withProcess({ args: ["/bin/sh"] })({ ociVersion: OCI_VERSION });

describe("withAppArmor", () => {
  it.each([
    ["AppArmor disabled: no profile", undefined, { apparmorEnabled: false, privileged: false }, undefined],
    ["AppArmor disabled, profile named: still none", "custom", { apparmorEnabled: false, privileged: false }, undefined],
    ["privileged: unconfined", undefined, { apparmorEnabled: true, privileged: true }, "unconfined"],
    ["privileged with a named profile: unconfined", "custom", { apparmorEnabled: true, privileged: true }, "unconfined"],
    ["default profile", undefined, { apparmorEnabled: true, privileged: false }, "shoal-default"],
    ["named profile", "custom", { apparmorEnabled: true, privileged: false }, "custom"],
  ])("%s", (_name, profile, host, want) => {
    const process = withAppArmor(profile, host)(spec).process;
    expect(process?.apparmorProfile).toBe(want);
    expect(process && "apparmorProfile" in process).toBe(want !== undefined);
  });

  it("removes a profile set earlier when AppArmor is not enabled", () => {
    const confined = withAppArmor("custom", { apparmorEnabled: true, privileged: false })(spec);
    expect(withAppArmor(undefined, { apparmorEnabled: false, privileged: false })(confined).process?.apparmorProfile).toBeUndefined();
  });
});

describe("parseSecurityOpts / withSecurityOpts", () => {
  it.each([
    [[], { noNewPrivileges: false, apparmorProfile: undefined }],
    [["no-new-privileges"], { noNewPrivileges: true, apparmorProfile: undefined }],
    [["no-new-privileges=true"], { noNewPrivileges: true, apparmorProfile: undefined }],
    [["no-new-privileges:true"], { noNewPrivileges: true, apparmorProfile: undefined }],
    [["no-new-privileges", "no-new-privileges=false"], { noNewPrivileges: false, apparmorProfile: undefined }],
    [["apparmor=my-profile"], { noNewPrivileges: false, apparmorProfile: "my-profile" }],
    [["apparmor:unconfined", "no-new-privileges"], { noNewPrivileges: true, apparmorProfile: "unconfined" }],
  ])("%j", (opts, want) => {
    expect(parseSecurityOpts(opts)).toEqual(want);
  });

  it.each([["seccomp=unconfined"], ["label=disable"], ["apparmor="], ["no-new-privileges=yes"], ["bogus"]])(
    "rejects %j with InvalidArgumentError",
    (opt) => {
      expect(() => withSecurityOpts([opt], { apparmorEnabled: true, privileged: false })).toThrow(InvalidArgumentError);
    },
  );

  it("applies no-new-privileges and the named profile through the AppArmor rules", () => {
    const s = withSecurityOpts(["no-new-privileges", "apparmor=web"], { apparmorEnabled: true, privileged: false })(spec);
    expect(s.process).toMatchObject({ noNewPrivileges: true, apparmorProfile: "web" });
    const off = withSecurityOpts(["apparmor=web"], { apparmorEnabled: false, privileged: false })(spec);
    expect(off.process).toMatchObject({ noNewPrivileges: false });
    expect(off.process?.apparmorProfile).toBeUndefined();
  });
});
