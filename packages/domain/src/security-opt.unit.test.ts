import { describe, expect, it } from "vitest";
import { parseSecurityOpt } from "./security-opt";
import type { SecurityOpt } from "./security-opt";
import { InvalidArgumentError } from "./errors";

const KEYS = "apparmor, seccomp, label, no-new-privileges, systempaths, writable-cgroups";

describe("parseSecurityOpt", () => {
  it.each<[string, SecurityOpt]>([
    ["no-new-privileges", { key: "no-new-privileges", value: "true" }],
    ["no-new-privileges=true", { key: "no-new-privileges", value: "true" }],
    ["no-new-privileges=false", { key: "no-new-privileges", value: "false" }],
    ["apparmor=unconfined", { key: "apparmor", value: "unconfined" }],
    ["apparmor=docker-default", { key: "apparmor", value: "docker-default" }],
    ["seccomp=/etc/profile.json", { key: "seccomp", value: "/etc/profile.json" }],
    ["label=type:svirt_apache_t", { key: "label", value: "type:svirt_apache_t" }],
    ["label=disable", { key: "label", value: "disable" }],
    ["systempaths=unconfined", { key: "systempaths", value: "unconfined" }],
    ["writable-cgroups=true", { key: "writable-cgroups", value: "true" }],
  ])("parses %j", (input, expected) => {
    expect(parseSecurityOpt(input)).toEqual(expected);
  });

  it.each([
    ["apparmor", `want key=value with key one of ${KEYS}, or the bare flag no-new-privileges`],
    ["label:disable", `want key=value with key one of ${KEYS}, or the bare flag no-new-privileges`],
    ["", `want key=value with key one of ${KEYS}, or the bare flag no-new-privileges`],
    ["selinux=x", `unknown key "selinux" (want one of ${KEYS})`],
    ["=x", `unknown key "" (want one of ${KEYS})`],
    ["apparmor=", "empty value"],
    ["no-new-privileges=yes", "no-new-privileges must be true or false"],
    ["writable-cgroups=1", "writable-cgroups must be true or false"],
    ["systempaths=confined", "systempaths only accepts unconfined"],
  ])("refuses %j: %s", (input, why) => {
    expect(() => parseSecurityOpt(input)).toThrow(new InvalidArgumentError(`invalid security option "${input}": ${why}`));
    expect(() => parseSecurityOpt(input)).toThrow(InvalidArgumentError);
  });
});
