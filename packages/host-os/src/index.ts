export type { HostOs, MountRequest, RecursiveReadOnlySupport, UnmountOptions } from "./host-os";
export { parseMountInfo } from "./mount-info";
export type { MountInfoEntry, MountPropagation } from "./mount-info";
export { createHostOs } from "./create-host-os";
export { ensureCompiledHelper, ensureContentFile, HELPER_CACHE_DIR } from "./compiled-helper";
export type { HostOsTools } from "./create-host-os";
export { createFakeHostOs } from "./fake-host-os";
export type { FakeHostOs, FakeHostOsOptions, HostOsCall, HostOsOp } from "./fake-host-os";
