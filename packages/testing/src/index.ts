export {};
export { connectTestNats } from "./nats";
export type { TestNats } from "./nats";
