export {};
export { connectTestNats } from "./nats";
export type { TestNats } from "./nats";
export { createTestDatabase } from "./postgres";
export type { TestDatabase } from "./postgres";
export { startTestContainerd } from "./containerd";
export type { TestContainerd, StartTestContainerdOptions } from "./containerd";
export { ensureBusyboxRootfs } from "./busybox-rootfs";
