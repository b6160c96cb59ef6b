export { registerEventsService } from "./events-service";
export type { EventsServiceDeps } from "./events-service";
export { formatEventCursor, parseEventCursor } from "./events-cursor";
