export {
  DEFAULT_SUBJECT_PREFIX,
  assertSubjectToken,
  assertSubjectPrefix,
  eventSubject,
  eventsFilter,
  hostCommandSubject,
  hostReportSubject,
  hostReportsFilter,
  hostHeartbeatSubject,
  parseHostSubject,
} from "./subjects";
export type { ParsedHostSubject } from "./subjects";
export {
  EVENTS_DUPLICATE_WINDOW_MS,
  REPORTS_DUPLICATE_WINDOW_MS,
  REPORTS_MAX_AGE_MS,
  eventsStreamName,
  reportsStreamName,
  ensureStreams,
  deleteStreams,
} from "./streams";
export type { EnsuredStreams } from "./streams";
export {
  EVENT_HEADERS,
  createJetStreamEventPublisher,
  encodeEventMessage,
  decodeEventMessage,
} from "./event-publisher";
export type {
  EventEnvelope,
  EventPublishAck,
  JetStreamEventPublisher,
  JetStreamEventPublisherOptions,
  ReceivedMessage,
} from "./event-publisher";
export { createInMemoryProcessedEventStore, createPostgresProcessedEventStore } from "./processed-event-store";
export type { ProcessedEventStore } from "./processed-event-store";
export { DeliverLaterError, startDurableConsumer, startDurableConsumersBySubject, createIdempotentHandler } from "./durable-consumer";
export type { DeliveredMessage, MessageHandler, DurableConsumer, DurableConsumerOptions } from "./durable-consumer";
export {
  serveHostCommands,
  sendHostCommand,
  publishHostReport,
  decodeHostReport,
  publishHeartbeat,
  subscribeHeartbeats,
} from "./host-channel";
export type {
  HostCommandHandler,
  HostCommandServer,
  ServeHostCommandsOptions,
  SendHostCommandOptions,
  HostReport,
  PublishHostReportOptions,
  HostHeartbeat,
} from "./host-channel";
export { stderrBusLogger } from "./bus-logger";
export { watchNatsLink } from "./nats-link";
export type { NatsLink } from "./nats-link";
export type { BusLogger } from "./bus-logger";
export { openCheckpointReplicas, openImageArchives } from "./checkpoint-replicas";
export type { CheckpointReplicas, ImageArchives } from "./checkpoint-replicas";
