import { describe, expect, it } from "vitest";
import { mountFlags, unmountFlags } from "./mount-helper";

describe("mountFlags", () => {
  it("maps mount(8) option words to mount(2) flags (linux/mount.h)", () => {
    expect(mountFlags([])).toBe(0);
    expect(mountFlags(["nosuid", "nodev", "noexec"])).toBe(2 | 4 | 8);
    expect(mountFlags(["rw", "relatime"])).toBe(1 << 21);
    expect(mountFlags(["bind"])).toBe(4096);
    expect(mountFlags(["rbind"])).toBe(4096 | 16384);
    expect(mountFlags(["shared"])).toBe(1 << 20);
    expect(mountFlags(["rshared"])).toBe((1 << 20) | 16384);
    expect(mountFlags(["rprivate"])).toBe((1 << 18) | 16384);
  });

  it("leaves to mount(8) what one mount(2) call does not do as it does", () => {
    expect(mountFlags(["bind", "ro"])).toBeUndefined(); // mount(8) remounts read-only after the bind
    expect(mountFlags(["shared", "nosuid"])).toBeUndefined(); // a propagation change takes no other flag
    expect(mountFlags(["remount"])).toBeUndefined();
    expect(mountFlags(["size=1m"])).toBeUndefined(); // data, not a flag word
  });
});

describe("unmountFlags", () => {
  it("is MNT_DETACH for a lazy (detaching) unmount, else 0", () => {
    expect(unmountFlags({})).toBe(0);
    expect(unmountFlags({ lazy: true })).toBe(2);
    expect(unmountFlags({ detach: true })).toBe(2);
  });
});
