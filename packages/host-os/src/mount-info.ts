import { InvalidArgumentError } from "@shoal/domain";

/**
 * How a mount takes part in mount propagation, from the optional fields of
 * /proc/<pid>/mountinfo (proc(5), Documentation/filesystems/sharedsubtree.rst):
 * - `shared`: has `shared:N` (it may also be a slave, see `masterGroup`);
 * - `slave`: has `master:N` and no `shared:N`;
 * - `unbindable`: has `unbindable`;
 * - `private`: none of these.
 */
export type MountPropagation = "shared" | "slave" | "private" | "unbindable";

/** One line of /proc/<pid>/mountinfo, with octal escapes decoded. */
export interface MountInfoEntry {
  readonly mountId: number;
  readonly parentId: number;
  readonly major: number;
  readonly minor: number;
  /** The path inside the source filesystem that forms the root of this mount (a bind of a subdir shows it). */
  readonly root: string;
  /** Where the mount is, relative to the reading process's root. */
  readonly mountPoint: string;
  /** Per-mount options (`rw`, `nosuid`, `nodev`, `noexec`, `relatime`…). */
  readonly mountOptions: readonly string[];
  /** The raw optional fields (`shared:12`, `master:3`, `propagate_from:3`, `unbindable`), in file order. */
  readonly optionalFields: readonly string[];
  readonly propagation: MountPropagation;
  /** N of `shared:N` when the mount is shared. */
  readonly peerGroup: number | undefined;
  /** N of `master:N` when the mount is a slave (possibly also shared). */
  readonly masterGroup: number | undefined;
  /** Filesystem type, with subtype when there is one (`fuse.sshfs`). */
  readonly fsType: string;
  /** Filesystem-specific source (`tmpfs`, `/dev/sda1`, `overlay`, `none`). */
  readonly source: string;
  /** Per-superblock options (`rw`, `size=1024k`, `mode=1777`, `lowerdir=…`). */
  readonly superOptions: readonly string[];
}

/**
 * Parses the text of /proc/<pid>/mountinfo. Pure.
 *
 * Decodes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline,
 * `\134` backslash) in root, mount point and source. Empty lines are ignored.
 * A line that does not have the documented shape (fewer than 6 leading fields,
 * no `-` separator, non-numeric ids) is an InvalidArgumentError naming the line number.
 */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === undefined || line.trim() === "") continue;
    entries.push(parseLine(line, i + 1));
  }
  return entries;
}

function parseLine(line: string, lineNumber: number): MountInfoEntry {
  const fields = line.split(" ");
  const bad = (why: string): never => {
    throw new InvalidArgumentError(`mountinfo line ${lineNumber}: ${why}: ${JSON.stringify(line)}`);
  };
  if (fields.length < 10) bad("too few fields");
  const separator = fields.indexOf("-", 6);
  if (separator < 0) bad("no '-' separator after the optional fields");
  if (fields.length < separator + 3) bad("fewer than 3 fields after the '-' separator");

  const [mountIdText, parentIdText, devText, rootText, mountPointText, mountOptionsText] = fields as [
    string, string, string, string, string, string,
  ];
  const mountId = toInt(mountIdText) ?? bad("mount id is not a number");
  const parentId = toInt(parentIdText) ?? bad("parent id is not a number");
  const dev = /^(\d+):(\d+)$/.exec(devText) ?? bad("major:minor is malformed");
  const optionalFields = fields.slice(6, separator);

  let peerGroup: number | undefined;
  let masterGroup: number | undefined;
  let unbindable = false;
  for (const field of optionalFields) {
    const [tag, value] = field.split(":", 2);
    if (tag === "shared") peerGroup = toInt(value ?? "");
    else if (tag === "master") masterGroup = toInt(value ?? "");
    else if (tag === "unbindable") unbindable = true;
  }
  const propagation: MountPropagation =
    peerGroup !== undefined ? "shared" : masterGroup !== undefined ? "slave" : unbindable ? "unbindable" : "private";

  return {
    mountId,
    parentId,
    major: Number(dev[1]),
    minor: Number(dev[2]),
    root: decodeOctalEscapes(rootText),
    mountPoint: decodeOctalEscapes(mountPointText),
    mountOptions: splitOptions(mountOptionsText),
    optionalFields,
    propagation,
    peerGroup,
    masterGroup,
    fsType: fields[separator + 1] ?? "",
    source: decodeOctalEscapes(fields[separator + 2] ?? ""),
    // Super options may themselves contain spaces only if escaped; join the rest defensively.
    superOptions: splitOptions(fields.slice(separator + 3).join(" ")),
  };
}

function toInt(text: string): number | undefined {
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

function splitOptions(text: string): string[] {
  return text === "" ? [] : text.split(",");
}

/** Decodes `\ooo` octal escapes as the kernel writes them (seq_file mangling). */
function decodeOctalEscapes(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}
