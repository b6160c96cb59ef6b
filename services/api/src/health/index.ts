export { HEALTH_SERVICE_NAME, registerHealthAndReflection } from "./health-and-reflection";
export type { HealthAndReflectionOptions, HealthReporter } from "./health-and-reflection";
export { SHOAL_PROTO_LOADER_OPTIONS, loadShoalProtos, shoalProtoFiles } from "./shoal-protos";
