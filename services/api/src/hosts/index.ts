export { registerHostsService } from "./hosts-service";
export type { HostsServiceDeps } from "./hosts-service";
export { createPostgresHostsReader } from "./hosts-reader";
export { createHostsProjection, HOSTS_PROJECTION } from "./hosts-projection";
export { startHeartbeatRecorder } from "./heartbeat-recorder";
export type { HeartbeatRecorder } from "./heartbeat-recorder";
export type { HostView, HostsReader } from "./hosts-reader";
