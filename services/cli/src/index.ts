export { runCli, EXIT_REFUSED } from "./run-cli";
export type { CliIo } from "./run-cli";
export { parseCommandLine, UsageError, DEFAULT_ADDR } from "./parse-command-line";
export type { CliCommand, ParsedCommandLine, ParseContext, OutputFormat } from "./parse-command-line";
export { connectShoalApi, DaemonError } from "./shoal-api-client";
export type { ShoalApi, EventSubscription } from "./shoal-api-client";
