import { edit, requireProcess, type SpecOpt } from "./spec";

/** The capabilities a non-privileged container keeps: Docker's and containerd's default set. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Every capability of capabilities(7) up to CAP_CHECKPOINT_RESTORE (40, Linux 5.9), in number order. */
export const ALL_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

/**
 * Sets the process's bounding, effective and permitted sets to the default set, or to
 * every capability when privileged. Inheritable and ambient stay empty (as containerd
 * does since the CVE-2022-24769 fix), so exec'd binaries gain nothing from file caps'
 * inheritable bits. Needs withProcess first.
 */
export function withCapabilities(privileged: boolean): SpecOpt {
  const caps = privileged ? ALL_CAPABILITIES : DEFAULT_CAPABILITIES;
  return (spec) => {
    requireProcess(spec, "withCapabilities");
    return edit(spec, (s) => {
      (s.process as NonNullable<typeof s.process>).capabilities = {
        bounding: [...caps],
        effective: [...caps],
        permitted: [...caps],
        inheritable: [],
        ambient: [],
      };
    });
  };
}
