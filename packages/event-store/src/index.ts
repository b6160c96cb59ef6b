export type { NewEvent, RecordedEvent, ExpectedVersion } from "./event-types";
export { globalCursorStart, parseGlobalCursor } from "./global-cursor";
export type { GlobalCursor } from "./global-cursor";
export { createEventStore, outboxChannel } from "./event-store";
export type {
  EventStore,
  EventStoreOptions,
  AppendOptions,
  AppendResult,
  ReadStreamOptions,
  ReadAllOptions,
  ReadAllResult,
  GlobalEvent,
} from "./event-store";
export { eventStoreTables } from "./event-store-database";
export type {
  EventStoreDatabase,
  KyselyOrTransaction,
  EventsTable,
  StreamsTable,
  OutboxTable,
  ProjectionCheckpointsTable,
  ProcessedEventsTable,
  JsonColumn,
  Int8Column,
  TimestampColumn,
  Nullable,
  Defaulted,
} from "./event-store-database";
export { migrateToLatest } from "./migrate-to-latest";
export type { Logger } from "./logger";
export { createOutboxRelay } from "./outbox-relay";
export type { OutboxRelay, OutboxRelayOptions, OutboxMessage, OutboxPublisher } from "./outbox-relay";
export { createProjectionRunner } from "./projection-runner";
export { FOLLOWER_SETTLE_MS } from "./notified-loop";
export type { ProjectionRunner, ProjectionRunnerOptions } from "./projection-runner";
export { handleCommand, loadStream, foldStream, appendDecided } from "./handle-command";
export type { HandleCommandOptions, HandleCommandResult, LoadedStream, AppendDecidedOptions } from "./handle-command";
