export { canonicalConfigJson, loadConfigSnapshot, registerConfigService } from "./config-service";
export type { ConfigResponse, ConfigServiceDeps } from "./config-service";
