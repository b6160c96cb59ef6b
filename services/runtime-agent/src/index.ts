export { startAgent } from "./agent";
export type { Agent, StartAgentOptions } from "./agent";
export { readAgentConfig } from "./config";
export type { AgentEnvConfig } from "./config";
