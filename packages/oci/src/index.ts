export { OCI_VERSION } from "./spec";
export type {
  Spec,
  Process,
  User,
  Root,
  Mount,
  LinuxCapabilities,
  PosixRlimit,
  Linux,
  LinuxNamespace,
  LinuxNamespaceType,
  LinuxResources,
  LinuxDeviceCgroup,
  LinuxMemory,
  SpecOpt,
} from "./spec";
export { buildSpec } from "./build-spec";
export type { BuildSpecInput } from "./build-spec";
export { withProcess, execProcessSpec, DEFAULT_PATH_ENV } from "./with-process";
export type { ProcessInput, ExecInput } from "./with-process";
export { withRootfs, withReadonlyRootfs, overlayRootfsMounts } from "./with-rootfs";
export type { RootfsMount, OverlayDirs } from "./with-rootfs";
export {
  withDefaultMounts,
  withMaskedAndReadonlyPaths,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
} from "./with-default-mounts";
export { withCapabilities, DEFAULT_CAPABILITIES, ALL_CAPABILITIES } from "./with-capabilities";
export { withNamespaces } from "./with-namespaces";
export type { NetworkMode } from "./with-namespaces";
export { withIpc } from "./with-ipc";
export type { IpcOptions } from "./with-ipc";
export { withBindMounts, runtimeSupportsRro, rroSupport } from "./with-bind-mounts";
export type { BindMount, BindPropagation, RroSupport } from "./with-bind-mounts";
export { withAppArmor, withSecurityOpts, parseSecurityOpts } from "./with-security-opts";
export { DEFAULT_APPARMOR_PROFILE, DEFAULT_APPARMOR_PROFILE_TEXT } from "./apparmor-profile";
export type { AppArmorHost, SecurityOpts } from "./with-security-opts";
export { withCgroupsPath, withResources } from "./with-cgroups-path";
export type { ResourcesInput } from "./with-cgroups-path";
