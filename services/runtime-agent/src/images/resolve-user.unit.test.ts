import { mkdtemp, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveUser, rootfsDirs } from "./resolve-user";

async function rootfs(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "shoal-user-"));
  await mkdir(join(dir, "etc"));
  for (const [path, text] of Object.entries(files)) await writeFile(join(dir, path), text);
  return dir;
}

describe("resolveUser (runc's rules for -u)", () => {
  const passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n";
  const group = "root:x:0:\napp:x:1000:\nstaff:x:50:app,other\n";

  it("names come from the container's passwd and group, with the user's supplementary groups", async () => {
    const dir = await rootfs({ "etc/passwd": passwd, "etc/group": group });
    expect(await resolveUser("app", [dir])).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 50] });
    expect(await resolveUser("app:staff", [dir])).toEqual({ uid: 1000, gid: 50, additionalGids: [50] });
    expect(await resolveUser("0", [dir])).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
    expect(await resolveUser("", [dir])).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
    expect(await resolveUser("", [await rootfs({ "etc/passwd": passwd, "etc/group": "root:x:0:\nwheel:x:10:root\n" })])).toEqual({ uid: 0, gid: 0, additionalGids: [0, 10] });
    expect(await resolveUser("", [await rootfs({})])).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
  });

  it("numeric ids stand as given without an entry; names without one are refused in Docker's words", async () => {
    const dir = await rootfs({ "etc/passwd": passwd, "etc/group": group });
    expect(await resolveUser("4242:4343", [dir])).toEqual({ uid: 4242, gid: 4343, additionalGids: [4343] });
    expect(await resolveUser("4242", [dir])).toEqual({ uid: 4242, gid: 0, additionalGids: [0] });
    await expect(resolveUser("nobody", [dir])).rejects.toThrow("unable to find user nobody: no matching entries in passwd file");
    await expect(resolveUser("app:nogroup", [dir])).rejects.toThrow("unable to find group nogroup: no matching entries in group file");
  });

  it("reads the topmost layer's files", async () => {
    const lower = await rootfs({ "etc/passwd": passwd });
    const upper = await rootfs({ "etc/passwd": "svc:x:7:7::/:/bin/sh\n" });
    expect(await resolveUser("svc", [upper, lower])).toEqual({ uid: 7, gid: 7, additionalGids: [7] });
    await expect(resolveUser("app", [upper, lower])).rejects.toThrow("unable to find user app");
  });

  it("takes an overlay's upper then lower directories", () => {
    expect(rootfsDirs([{ type: "overlay", source: "overlay", options: ["workdir=/w", "upperdir=/u", "lowerdir=/l1:/l2"] }])).toEqual(["/u", "/l1", "/l2"]);
    expect(rootfsDirs([{ type: "bind", source: "/snap/1/fs", options: ["rbind", "rw"] }])).toEqual(["/snap/1/fs"]);
  });
});
