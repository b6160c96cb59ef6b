/**
 * Prometheus metrics of the mount-manager. No container ids in labels: `op` is one of
 * `unmount`, `prepare`, `join`, `leave`, `reconcile` (owners' mounts are made by the agents
 * as part of their starts, so there is no `mount`); `result` one of `ok`,
 * `refused`, `failed`, `skipped`.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export type Operation = "unmount" | "prepare" | "join" | "leave" | "reconcile";
export type OperationResult = "ok" | "refused" | "failed" | "skipped";

export interface MountManagerMetrics {
  readonly registry: Registry;
  count(op: Operation, result: OperationResult): void;
  /** Time from taking a ContainerScheduled to recording ContainerIpcPrepared, by resolved IPC mode. */
  observePrepare(mode: string, seconds: number): void;
}

/** `mountedShm` is read at scrape time (from `shm_mounts`). */
export function createMetrics(mountedShm: () => Promise<number>): MountManagerMetrics {
  const registry = new Registry();
  new Gauge({
    name: "shoal_mount_manager_shm_mounts",
    help: "Owners' shm mounts the log records as mounted.",
    registers: [registry],
    async collect() {
      this.set(await mountedShm());
    },
  });
  const ops = new Counter({
    name: "shoal_mount_manager_operations_total",
    help: "Mount-manager operations by kind and outcome.",
    labelNames: ["op", "result"] as const,
    registers: [registry],
  });
  const prepare = new Histogram({
    name: "shoal_mount_manager_prepare_seconds",
    help: "Time the mount-manager takes to prepare a start (plan and records), by IPC mode.",
    labelNames: ["mode"] as const,
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  return {
    registry,
    count: (op, result) => ops.inc({ op, result }),
    observePrepare: (mode, seconds) => prepare.observe({ mode }, seconds),
  };
}

