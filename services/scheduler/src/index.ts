export { startScheduler } from "./start-scheduler";
export type { Scheduler, SchedulerOptions } from "./start-scheduler";
export { readSchedulerConfig } from "./config";
export type { SchedulerConfig } from "./config";
export { planPlacement, reservationOf } from "./placement";
export type { HostUsage, HostView, PlacementPlan, PlacementRequest, PlacementSnapshot, Reserved } from "./placement";
export { HOST_EVENT_SCHEMA_VERSIONS, hostDecider, decideHost, evolveHost, initialHostState } from "./host-decider";
export type {
  HostCommand,
  HostEvent,
  HostLost,
  HostRegistered,
  HostState,
  MarkHostLost,
  RegisterHost,
} from "./host-decider";
