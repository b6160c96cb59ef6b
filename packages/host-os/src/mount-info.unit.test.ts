import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "@shoal/domain";
import { parseMountInfo } from "./mount-info";

describe("parseMountInfo", () => {
  const cases = [
    {
      name: "no optional fields: private",
      line: "25 24 0:23 / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw,size=65536k",
      want: {
        mountId: 25, parentId: 24, major: 0, minor: 23, root: "/", mountPoint: "/dev/shm",
        mountOptions: ["rw", "nosuid", "nodev"], optionalFields: [], propagation: "private",
        peerGroup: undefined, masterGroup: undefined, fsType: "tmpfs", source: "tmpfs",
        superOptions: ["rw", "size=65536k"],
      },
    },
    {
      name: "one optional field: shared",
      line: "29 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro",
      want: {
        mountId: 29, parentId: 1, major: 8, minor: 1, root: "/", mountPoint: "/",
        optionalFields: ["shared:1"], propagation: "shared", peerGroup: 1, masterGroup: undefined,
        fsType: "ext4", source: "/dev/sda1", superOptions: ["rw", "errors=remount-ro"],
      },
    },
    {
      name: "two optional fields: shared and slave",
      line: "36 35 98:0 /mnt1 /mnt2 rw,noatime shared:12 master:3 - ext3 /dev/root rw,errors=continue",
      want: {
        root: "/mnt1", mountPoint: "/mnt2", optionalFields: ["shared:12", "master:3"],
        propagation: "shared", peerGroup: 12, masterGroup: 3, fsType: "ext3", source: "/dev/root",
      },
    },
    {
      name: "slave only",
      line: "40 29 0:45 / /var/lib/shoal/a rw master:7 propagate_from:2 - tmpfs shm rw,size=1024k,mode=755",
      want: { propagation: "slave", peerGroup: undefined, masterGroup: 7, source: "shm" },
    },
    {
      name: "unbindable",
      line: "41 29 0:46 / /x rw unbindable - tmpfs tmpfs rw",
      want: { propagation: "unbindable", optionalFields: ["unbindable"] },
    },
    {
      name: "escapes in root, mount point and source",
      line: String.raw`50 29 0:47 /a\040b /tmp/with\040space\011tab\012nl\134bs rw - fuse.sshfs user@h:/d\040x rw,user_id=0`,
      want: {
        root: "/a b", mountPoint: "/tmp/with space\ttab\nnl\\bs", fsType: "fuse.sshfs", source: "user@h:/d x",
        superOptions: ["rw", "user_id=0"],
      },
    },
    {
      name: "overlay with long super options",
      line: "60 29 0:50 / /run/shoal/r/merged rw,relatime shared:30 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w",
      want: { fsType: "overlay", superOptions: ["rw", "lowerdir=/l", "upperdir=/u", "workdir=/w"], peerGroup: 30 },
    },
  ];

  it.each(cases)("$name", ({ line, want }) => {
    const [entry] = parseMountInfo(`${line}\n`);
    expect(entry).toMatchObject(want);
  });

  it("parses a whole file, skipping empty lines, in order", () => {
    const text = [
      "22 27 0:21 / /proc rw,relatime - proc proc rw",
      "",
      "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw",
      "",
    ].join("\n");
    expect(parseMountInfo(text).map((e) => e.mountPoint)).toEqual(["/proc", "/sys"]);
  });

  it.each([
    ["too few fields", "22 27 0:21 / /proc"],
    ["no separator", "22 27 0:21 / /proc rw shared:1 proc proc rw x"],
    ["non-numeric id", "x 27 0:21 / /proc rw - proc proc rw"],
    ["bad major:minor", "22 27 021 / /proc rw - proc proc rw"],
  ])("rejects a malformed line (%s) with InvalidArgumentError naming the line", (_why, line) => {
    expect(() => parseMountInfo(`22 27 0:21 / /proc rw - proc proc rw\n${line}`)).toThrow(InvalidArgumentError);
    expect(() => parseMountInfo(`22 27 0:21 / /proc rw - proc proc rw\n${line}`)).toThrow(/line 2/);
  });
});
