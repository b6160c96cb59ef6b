import { edit, type Mount, type SpecOpt } from "./spec";

/**
 * The mounts every Linux container gets, after containerd's default Linux spec and
 * Docker's: /proc, a /dev tmpfs, /dev/pts, a default private /dev/shm (withIpc replaces
 * or removes it per IPC mode), /dev/mqueue as an `mqueue` mount (never a bind: the host
 * may have no /dev/mqueue — containerd-notes), /sys and the cgroup tree read-only.
 * Privileged containers get /sys and the cgroup tree read-write, as in Docker.
 * Replaces any existing mount at these destinations; keeps other mounts after them.
 */
export function withDefaultMounts(options: { privileged?: boolean } = {}): SpecOpt {
  const sysAccess = options.privileged ? [] : ["ro"];
  const defaults: Mount[] = [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", ...sysAccess] },
    {
      destination: "/sys/fs/cgroup",
      type: "cgroup",
      source: "cgroup",
      options: ["nosuid", "noexec", "nodev", "relatime", ...sysAccess],
    },
  ];
  const taken = new Set(defaults.map((m) => m.destination));
  return (spec) =>
    edit(spec, (s) => {
      s.mounts = [...defaults, ...(s.mounts ?? []).filter((m) => !taken.has(m.destination))];
    });
}

/** Paths hidden from the container (/dev/null bound over files, empty tmpfs over dirs): containerd 1.6 / Docker defaults. */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

/** Paths remounted read-only inside the container: containerd 1.6 / Docker defaults. */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/** Sets `linux.maskedPaths` and `linux.readonlyPaths` to the defaults; privileged containers get neither (as in Docker). */
export function withMaskedAndReadonlyPaths(options: { privileged?: boolean } = {}): SpecOpt {
  return (spec) =>
    edit(spec, (s) => {
      s.linux = {
        ...(s.linux ?? {}),
        maskedPaths: options.privileged ? [] : [...DEFAULT_MASKED_PATHS],
        readonlyPaths: options.privileged ? [] : [...DEFAULT_READONLY_PATHS],
      };
    });
}
