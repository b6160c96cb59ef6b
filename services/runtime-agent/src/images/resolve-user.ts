import { readFile, lstat } from "node:fs/promises";
import { join } from "node:path";
import { FailedPreconditionError } from "@shoal/domain";
import type { Mount } from "@shoal/containerd";

// `-u user[:group]` resolved as Docker (runc's libcontainer) resolves it: names through the
// container's own /etc/passwd and /etc/group; a numeric uid or gid stands as given even
// when no entry names it; the primary group from passwd unless a group is given; as
// supplementary groups the primary one and, without an explicit group, those listing the
// user by name (compared with dockerd 20.10 here: `-u 1000` runs with groups=0).

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

/**
 * `user` ("" for none: root) for a root filesystem whose directories, topmost first, are `dirs` (the overlay's
 * upper then lower directories, or the one rootfs directory). FailedPreconditionError in
 * Docker's words: "unable to find user X: no matching entries in passwd file".
 */
export async function resolveUser(user: string, dirs: readonly string[]): Promise<ResolvedUser> {
  const colon = user.indexOf(":");
  const userPart = colon < 0 ? user : user.slice(0, colon);
  const groupPart = colon < 0 ? undefined : user.slice(colon + 1);
  const passwd = parseColonFile(await readTopmost(dirs, "etc/passwd"));
  const groups = parseColonFile(await readTopmost(dirs, "etc/group"));

  let uid: number;
  let gid = 0;
  let name: string | undefined;
  // No user: root, found in passwd as uid 0 when it lists one (its groups then apply, as Docker's).
  const byName = userPart === "" ? undefined : passwd.find((e) => e[0] === userPart);
  const numericUser = userPart === "" || /^\d+$/.test(userPart);
  const byUid = numericUser ? passwd.find((e) => e[2] === (userPart === "" ? "0" : userPart)) : undefined;
  const entry = byName ?? byUid;
  if (entry !== undefined) {
    uid = Number(entry[2]);
    gid = Number(entry[3] ?? 0);
    name = entry[0];
  } else if (numericUser) {
    uid = Number(userPart === "" ? "0" : userPart);
  } else {
    throw new FailedPreconditionError(`unable to find user ${userPart}: no matching entries in passwd file`);
  }
  if (groupPart !== undefined && groupPart !== "") {
    const group = groups.find((g) => g[0] === groupPart) ?? (/^\d+$/.test(groupPart) ? groups.find((g) => g[2] === groupPart) : undefined);
    if (group !== undefined) gid = Number(group[2]);
    else if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else throw new FailedPreconditionError(`unable to find group ${groupPart}: no matching entries in group file`);
  }
  const memberOf =
    name === undefined || (groupPart !== undefined && groupPart !== "") ? [] : groups.filter((g) => (g[3] ?? "").split(",").includes(name!)).map((g) => Number(g[2]));
  // Docker (since the fix of CVE-2022-36109) lists the primary group among the supplementary ones too.
  return { uid, gid, additionalGids: [...new Set([gid, ...memberOf])] };
}

/** The directories of a root filesystem given as mounts, topmost first. */
export function rootfsDirs(mounts: readonly Mount[]): string[] {
  const dirs: string[] = [];
  for (const m of mounts) {
    if (m.type === "bind") dirs.push(m.source);
    if (m.type !== "overlay") continue;
    const opt = (k: string) => m.options?.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
    const upper = opt("upperdir");
    if (upper !== undefined) dirs.push(upper);
    dirs.push(...(opt("lowerdir") ?? "").split(":").filter((d) => d !== ""));
  }
  return dirs;
}

/** The file's text from the topmost directory holding it; "" when none does or a whiteout hides it. */
async function readTopmost(dirs: readonly string[], path: string): Promise<string> {
  for (const dir of dirs) {
    const full = join(dir, path);
    const st = await lstat(full).catch(() => undefined);
    if (st === undefined) continue;
    if (st.isCharacterDevice()) return ""; // an overlay whiteout: deleted in an upper layer
    return readFile(full, "utf8").catch(() => "");
  }
  return "";
}

function parseColonFile(text: string): string[][] {
  return text
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.split(":"));
}
