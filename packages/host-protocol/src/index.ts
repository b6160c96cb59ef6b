// The wire contract between the control plane and a host's runtime agent: the commands
// sent to `<prefix>.host.<host>.cmd.<Command>` (request/reply) and the facts the agent
// reports on `<prefix>.host.<host>.report.<Type>` (JetStream, deduplicated by report id).
// Add optional fields and new types only; never change a field's meaning.
export { commandSchemas, parseCommand } from "./host-commands";
export type { CommandName, CommandPayload } from "./host-commands";
export { REPORT_TYPES, parseReportPayload, reportIds, reportSchemas } from "./host-reports";
export type { ImageRemoval, ImageSummary, PullProgressLine } from "./images";
export type {
  ContainerStartedPayload,
  ContainerStartFailedPayload,
  ContainerExitedPayload,
  ContainerOomPayload,
  HostRegisteredPayload,
  ReportPayload,
  ReportType,
} from "./host-reports";
export {
  CHECKPOINT_METADATA_FILE,
  CHECKPOINT_SHM_DIR,
  checkpointImagesDir,
  checkpointUpperDir,
  digestHex,
  parseCheckpointMetadata,
  treeDigest,
} from "./checkpoint-archive";
export type { CheckpointMetadata, TreeEntry } from "./checkpoint-archive";
export { checkpointTree, fromWebStream, packCheckpoint, readCheckpointArchive, unpackCheckpoint } from "./checkpoint-tar";
