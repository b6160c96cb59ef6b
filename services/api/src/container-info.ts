/**
 * How a container shows over gRPC (shoal.v1.ContainerInfo), from a projection row and
 * the config in force (for the effective IPC mode and shm size before a start resolved them).
 */
import type { DaemonConfig } from "@shoal/config";
import { DEFAULT_SHM_SIZE_BYTES, effectiveShmSize, formatCpus, formatDurationMs, formatIpcMode, formatRestartPolicy, resolveIpcMode } from "@shoal/domain";
import type { HostConfig } from "@shoal/domain";
import type { ContainerRow } from "./container-queries";
import { publicStatus } from "./list-query";

type Timestamp = { seconds: number; nanos: number } | null;

function ts(d: Date | string | null): Timestamp {
  if (d === null) return null;
  const ms = new Date(d).getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

export function hostConfigToProto(hc: HostConfig) {
  return {
    ipcMode: formatIpcMode(hc.ipcMode),
    shmSize: hc.shmSize !== undefined ? String(hc.shmSize) : "",
    autoRemove: hc.autoRemove,
    runtime: hc.runtime ?? "",
    securityOpt: hc.securityOpt,
    readonlyRootfs: hc.readonlyRootfs,
    mounts: hc.mounts.map((m) => ({ source: m.source, target: m.target, readonly: m.readonly, readonlyMode: m.readonlyMode ?? "" })),
    privileged: hc.privileged,
    memory: hc.memory !== undefined ? String(hc.memory) : "",
    cpus: hc.nanoCpus !== undefined ? formatCpus(hc.nanoCpus) : "",
    restartPolicy: hc.restartPolicy !== undefined ? formatRestartPolicy(hc.restartPolicy) : "no",
    stopOnDisconnect: hc.stopOnDisconnectMs !== undefined ? formatDurationMs(hc.stopOnDisconnectMs) : "",
  };
}

export function containerInfoToProto(row: ContainerRow, memberIds: string[], config: DaemonConfig) {
  const plan = row.ipcPlan;
  const mode = resolveIpcMode(row.hostConfig.ipcMode, config.defaultIpcMode);
  const effectiveMode = plan === null ? formatIpcMode(mode) : plan.mode === "container" ? `container:${plan.ownerId}` : plan.mode;
  let shm: number | undefined;
  if (plan !== null) shm = "shmSizeBytes" in plan ? plan.shmSizeBytes : undefined;
  else if (mode.kind !== "container") shm = effectiveShmSize({ mode, requested: row.hostConfig.shmSize, daemonDefault: config.defaultShmSizeBytes ?? DEFAULT_SHM_SIZE_BYTES });
  const role = row.ipcOwnerId === null ? "" : row.ipcOwnerId === row.id ? "owner" : "member";
  // Docker shows a container waiting for its restart as running (and restarting).
  const running = row.status === "running" || row.status === "paused" || row.status === "restarting";
  return {
    id: row.id,
    name: row.name,
    createdAt: ts(row.createdAt),
    state: {
      status: publicStatus(row.status),
      running,
      paused: row.status === "paused",
      oomKilled: row.oomKilled,
      dead: row.status === "dead",
      pid: running ? (row.pid ?? 0) : 0,
      exitCode: row.exitCode ?? 0,
      error: row.error ?? "",
      startedAt: ts(row.startedAt),
      finishedAt: ts(row.finishedAt),
    },
    hostConfig: hostConfigToProto(row.hostConfig),
    effectiveIpcMode: effectiveMode,
    effectiveShmSizeBytes: String(shm ?? 0),
    host: row.host ?? "",
    ipcGroup: {
      ownerId: row.ipcOwnerId ?? "",
      memberIds,
      role,
      shmSizeBytes: String(plan !== null && role !== "" && "shmSizeBytes" in plan ? plan.shmSizeBytes : 0),
      shmMountPath: plan !== null && "shmMountPath" in plan ? plan.shmMountPath : "",
    },
    rootfs: row.source.kind === "rootfs" ? row.source.path : "",
    image: row.source.kind === "image" ? row.source.ref : "",
    args: row.args,
    env: row.env,
    runtime: row.runtime === null ? null : { name: row.runtime.name, path: row.runtime.path, args: row.runtime.args },
    configVersion: String(row.configVersion ?? 0),
    ipcNamespaceInode: String(row.ipcNamespaceInode ?? 0),
    restartCount: row.restartCount,
    imageId: row.source.kind === "image" ? (row.source.id ?? "") : "",
    imageDigest: row.source.kind === "image" ? (row.source.digest ?? "") : "",
    user: row.run?.user ?? "",
    workingDir: row.cwd ?? "",
    stopSignal: row.run?.stopSignal ?? "",
    entrypoint: row.run?.entrypoint ?? [],
    cmd: row.run?.cmd ?? row.args,
  };
}
