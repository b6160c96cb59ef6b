export { startAgent } from "./agent";
export type { Agent, StartAgentOptions } from "./agent";
export { readAgentConfig } from "./config";
export type { AgentEnvConfig } from "./config";
export { REPORT_TYPES } from "./reports";
export type { ContainerExitedPayload, ContainerStartFailedPayload, ContainerStartedPayload } from "./reports";
export type { CommandName, CommandPayload } from "./command-schemas";
