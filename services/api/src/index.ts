export { startApi } from "./start-api";
export type { StartApiOptions, RunningApi } from "./start-api";
export { readApiConfig } from "./config";
export type { ApiConfig } from "./config";
export { resolveProtoDir } from "./server";
