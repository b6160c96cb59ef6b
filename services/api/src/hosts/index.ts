export { registerHostsService } from "./hosts-service";
export type { HostsServiceDeps } from "./hosts-service";
export { createPostgresHostsReader } from "./hosts-reader";
export type { HostView, HostsReader } from "./hosts-reader";
