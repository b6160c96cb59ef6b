/**
 * Shoal's default AppArmor profile: its name, which withAppArmor puts in a spec, and its text,
 * which the runtime agent loads (`HostOs.loadAppArmorProfile`) before it takes any command
 * wherever AppArmor is enabled. Both live here so the name a spec carries and the profile the
 * kernel holds cannot drift apart.
 */

/** The profile non-privileged containers get when the user names none. */
export const DEFAULT_APPARMOR_PROFILE = "shoal-default";

/**
 * The policy, in apparmor.d(5) syntax, for `apparmor_parser`. It includes no file from
 * /etc/apparmor.d, so it loads on a host with only the parser installed. What it allows is the
 * container's own business (files, network, capabilities the spec grants); what it takes away
 * is the way out to the host through procfs and sysfs, and mounting. Writes under /proc/sys
 * are kept only for the IPC namespace's own sysctls (kernel.shm*, kernel.msg*, kernel.sem*),
 * which a container with a private IPC namespace may tune (the spec's readonlyPaths still
 * make /proc/sys read-only unless a caller changes them).
 */
export const DEFAULT_APPARMOR_PROFILE_TEXT = `# ${DEFAULT_APPARMOR_PROFILE}: Shoal's default profile for containers (loaded by the runtime agent).
@{PROC}=/proc/

profile ${DEFAULT_APPARMOR_PROFILE} flags=(attach_disconnected,mediate_deleted) {
  file,
  network,
  capability,
  umount,
  deny mount,

  # Signals from the host (runc, the shim, the agent: unconfined) and among containers under
  # this profile; tracing only among them.
  signal (receive) peer=unconfined,
  signal (send,receive) peer=${DEFAULT_APPARMOR_PROFILE},
  ptrace (trace,read,tracedby,readby) peer=${DEFAULT_APPARMOR_PROFILE},

  # procfs: nothing written at its top level, nor below any directory other than the
  # per-process ones (numeric) and sys; kcore and sysrq-trigger not touched at all.
  deny @{PROC}/* w,
  deny @{PROC}/{[^1-9s]*,s[^y]*,sy[^s]*,sys?*}/** w,
  deny @{PROC}/{kcore,sysrq-trigger} rwklx,
  # /proc/sys: only kernel/shm*, kernel/msg* and kernel/sem* stay writable.
  deny @{PROC}/sys/[^k]** w,
  deny @{PROC}/sys/kernel/{[^sm]*,s[^he]*,sh[^m]*,se[^m]*,m[^s]*,ms[^g]*} w,
  deny @{PROC}/sys/kernel/{[^sm]*,s[^he]*,sh[^m]*,se[^m]*,m[^s]*,ms[^g]*}/** w,

  # sysfs: read-only except the cgroup tree; firmware and the LSM's own files not touched.
  deny /sys/{[^f]*,f[^s]*,fs?*}/** wklx,
  deny /sys/fs/{[^c]*,c[^g]*,cg[^r]*}/** wklx,
  deny /sys/firmware/** rwklx,
  deny /sys/kernel/security/** rwklx,
}
`;
