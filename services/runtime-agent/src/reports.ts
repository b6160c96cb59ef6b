/**
 * The facts the agent reports and their ids. An id names one fact, so publishing the same
 * fact again (a retry, or a restarted agent finding the same stopped task) is dropped by
 * JetStream's duplicate window; beyond the window the agent's record (`exit.reported`)
 * keeps it from being sent twice.
 */
export const REPORT_TYPES = {
  hostRegistered: "HostRegistered",
  containerStarted: "ContainerStarted",
  containerStartFailed: "ContainerStartFailed",
  containerExited: "ContainerExited",
  containerOom: "ContainerOom",
} as const;

export const reportIds = {
  hostRegistered: (host: string, startedAtMs: number) => `${host}.registered.${startedAtMs}`,
  containerStarted: (id: string, pid: number) => `${id}.started.${pid}`,
  containerStartFailed: (id: string, attemptId: string) => `${id}.start-failed.${attemptId}`,
  /** One incarnation of a container exits once: its id and init pid name it. */
  containerExited: (id: string, pid: number) => `${id}.exited.${pid}`,
  containerOom: (id: string, pid: number, atMs: number) => `${id}.oom.${pid}.${atMs}`,
};

export interface ContainerStartedPayload {
  containerId: string;
  pid: number;
  ipcNamespaceInode: number;
  runtime: { name: string; path: string; args: string[]; binaryPath: string };
  startedAt: string;
}

export interface ContainerStartFailedPayload {
  containerId: string;
  reason: string;
  exitCode: number;
}

export interface ContainerExitedPayload {
  containerId: string;
  pid: number;
  exitCode: number;
  exitedAt: string;
  /** True when the agent found the exit at its start (it happened while the agent was down). */
  foundAtRecovery: boolean;
}
