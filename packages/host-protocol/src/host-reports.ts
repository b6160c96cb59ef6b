import { z } from "zod";
import type { HostCapabilities } from "@shoal/domain";
import { parsePayload } from "./parse-payload";

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
  /** One id per registration: at start, and each time the agent registers again after a cut. */
  hostRegistered: (host: string, registeredAtMs: number) => `${host}.registered.${registeredAtMs}`,
  /**
   * One incarnation of a container starts once: its id, init pid and start time name it (a pid
   * alone repeats: in another host's pid namespace, or reused on one host).
   */
  containerStarted: (id: string, pid: number, startedAt: string) => `${id}.started.${pid}.${Date.parse(startedAt)}`,
  containerStartFailed: (id: string, attemptId: string) => `${id}.start-failed.${attemptId}`,
  /**
   * One incarnation of a container exits once: its id, init pid and start time name it (the
   * start time is absent only for a record written before agents kept it).
   */
  containerExited: (id: string, pid: number, startedAt?: string) =>
    startedAt === undefined ? `${id}.exited.${pid}` : `${id}.exited.${pid}.${Date.parse(startedAt)}`,
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

export interface HostRegisteredPayload {
  host: string;
  capabilities: HostCapabilities;
  startedAt: string;
  /** Memory the host offers to containers, in bytes; absent: the scheduler's configured default. */
  memoryBytes?: number;
  /**
   * CPUs the host offers to containers, in nano-CPUs (10^9 per CPU, Docker's `NanoCpus`);
   * absent (an older agent): placement does not limit the host by CPUs.
   */
  nanoCpus?: number;
  /**
   * When this registration was made: the agent registers at start (then it equals
   * `startedAt`) and again whenever its link to the control plane returns after a cut, so
   * a host the scheduler marked lost becomes ready again (and is fenced). Absent (an older
   * agent): `startedAt`.
   */
  registeredAt?: string;
}

export interface ContainerOomPayload {
  containerId: string;
  pid: number;
  at: string;
}

const id = z.string().regex(/^[0-9a-f]{64}$/, "must be a container id (64 hex)");
const time = z.string().refine((t) => !Number.isNaN(Date.parse(t)), "must be an ISO-8601 time");
const count = z.number().int().nonnegative();
const rro = z.union([z.object({ supported: z.literal(true) }), z.object({ supported: z.literal(false), reason: z.string() })]);

/** Unknown fields are kept: a newer agent may report more (wire contract: add fields only). */
const hostCapabilities = z
  .object({
    kernelVersion: z.string(),
    cgroupVersion: z.enum(["v1", "v2"]),
    runtimes: z.array(
      z.object({ name: z.string(), path: z.string(), features: z.unknown().optional(), featuresError: z.string().optional(), rro }).passthrough(),
    ),
    apparmor: z.object({ enabled: z.boolean() }).passthrough(),
    criu: z.union([
      z.object({ available: z.literal(true), message: z.string(), version: z.string().optional() }),
      z.object({ available: z.literal(false), reason: z.string() }),
    ]),
    stateRoot: z.string().startsWith("/"),
  })
  .passthrough();

/** The wire shape of each report's payload, tied to its type. */
export const reportSchemas = {
  [REPORT_TYPES.containerStarted]: z.object({
    containerId: id,
    pid: count.positive(),
    ipcNamespaceInode: count,
    runtime: z.object({ name: z.string().min(1), path: z.string(), args: z.array(z.string()), binaryPath: z.string() }),
    startedAt: time,
  }) satisfies z.ZodType<ContainerStartedPayload>,
  [REPORT_TYPES.containerStartFailed]: z.object({ containerId: id, reason: z.string().min(1), exitCode: count }) satisfies z.ZodType<ContainerStartFailedPayload>,
  [REPORT_TYPES.containerExited]: z.object({
    containerId: id,
    pid: count.positive(),
    exitCode: count,
    exitedAt: time,
    foundAtRecovery: z.boolean().default(false),
  }) satisfies z.ZodType<ContainerExitedPayload, unknown>,
  [REPORT_TYPES.hostRegistered]: z.object({
    host: z.string().min(1),
    capabilities: hostCapabilities,
    startedAt: time,
    memoryBytes: count.optional(),
    nanoCpus: count.optional(),
    registeredAt: time.optional(),
  }) satisfies z.ZodType<HostRegisteredPayload>,
  [REPORT_TYPES.containerOom]: z.object({ containerId: id, pid: count.positive(), at: time }) satisfies z.ZodType<ContainerOomPayload>,
} as const;

export type ReportType = keyof typeof reportSchemas;
export type ReportPayload<T extends ReportType> = z.infer<(typeof reportSchemas)[T]>;

/** A report's payload checked against its type's schema; InvalidArgumentError naming the first bad field. */
export function parseReportPayload<T extends ReportType>(type: T, payload: unknown): ReportPayload<T> {
  return parsePayload(reportSchemas[type], `${type} report`, payload) as ReportPayload<T>;
}
