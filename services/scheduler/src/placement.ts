/**
 * Placement: which host runs a container. Pure — a read-only snapshot in, a plan out;
 * the placement consumer applies the plan (see README.md).
 *
 * Rules:
 * - Lost hosts are never chosen.
 * - A member (`container:<owner>`) goes to its owner's host and nowhere else: the owner
 *   not placed, or its host lost, or a pin to another host, is `unavailable`.
 * - An IPC group is placed as one unit: the owner reserves its own memory plus the
 *   group's shm (one tmpfs, shared by every member); a member reserves only its own memory.
 *   A `private` container reserves memory plus its own shm tmpfs; `none` and `host` only memory.
 * - Capacity: a host fits when its reserved bytes plus the request's stay within its memory.
 * - A pinned host is honoured or the request is `unavailable` with the reason.
 * - Ties are broken deterministically: least reserved bytes, then host name.
 */
import type { ResolvedIpcMode } from "@shoal/domain";

export type HostView = {
  name: string;
  status: "ready" | "lost";
  /** Memory the host offers to containers, in bytes. */
  memoryBytes: number;
};

/** A container holding a reservation on a host (scheduled, starting or running). */
export type ContainerView = {
  containerId: string;
  host: string;
  /** Memory plus the shm tmpfs it brought to the host, in bytes. */
  reservedBytes: number;
};

export type PlacementRequest = {
  containerId: string;
  /** The mode after the daemon default was applied. */
  ipcMode: ResolvedIpcMode;
  /** For a member: the owner's container id, when it could be resolved. */
  ownerId?: string;
  /** The container's memory limit; absent counts as 0. */
  memoryBytes?: number;
  /** Size of the shm tmpfs this container would bring (0 when it brings none). */
  shmBytes: number;
  pinnedHost?: string;
};

export type PlacementSnapshot = {
  hosts: readonly HostView[];
  containers: readonly ContainerView[];
  request: PlacementRequest;
};

export type PlacementPlan =
  | { place: { host: string; reservedBytes: number } }
  | { unavailable: string };

/** The bytes a request reserves on its host (see the capacity rule above). */
export function reservationBytes(request: PlacementRequest): number {
  const memory = request.memoryBytes ?? 0;
  switch (request.ipcMode.kind) {
    case "private":
    case "shareable":
      return memory + request.shmBytes;
    case "none":
    case "host":
    case "container":
      return memory;
  }
}

export function planPlacement(snapshot: PlacementSnapshot): PlacementPlan {
  const { request } = snapshot;
  const need = reservationBytes(request);
  // A container being placed again (a restart) does not compete with its old reservation.
  const others = snapshot.containers.filter((c) => c.containerId !== request.containerId);
  const reserved = new Map<string, number>();
  for (const c of others) reserved.set(c.host, (reserved.get(c.host) ?? 0) + c.reservedBytes);
  const free = (h: HostView) => h.memoryBytes - (reserved.get(h.name) ?? 0);
  const byName = new Map(snapshot.hosts.map((h) => [h.name, h]));

  if (request.ipcMode.kind === "container") {
    const ownerRef = request.ownerId ?? request.ipcMode.ref;
    const owner = request.ownerId === undefined ? undefined : others.find((c) => c.containerId === request.ownerId);
    if (owner === undefined) return { unavailable: `IPC owner ${ownerRef} is not placed on any host` };
    const host = byName.get(owner.host);
    if (host === undefined || host.status !== "ready") {
      return { unavailable: `host ${owner.host} of IPC owner ${ownerRef} is lost` };
    }
    if (request.pinnedHost !== undefined && request.pinnedHost !== host.name) {
      return { unavailable: `pinned to host ${request.pinnedHost} but IPC owner ${ownerRef} runs on host ${host.name}` };
    }
    if (free(host) < need) {
      return { unavailable: `host ${host.name} of IPC owner ${ownerRef} has ${free(host)} bytes free, ${need} needed` };
    }
    return { place: { host: host.name, reservedBytes: need } };
  }

  let candidates: HostView[];
  if (request.pinnedHost !== undefined) {
    const pinned = byName.get(request.pinnedHost);
    if (pinned === undefined) return { unavailable: `pinned host ${request.pinnedHost} is not registered` };
    if (pinned.status !== "ready") return { unavailable: `pinned host ${request.pinnedHost} is lost` };
    candidates = [pinned];
  } else {
    if (snapshot.hosts.length === 0) return { unavailable: "no hosts registered" };
    candidates = snapshot.hosts.filter((h) => h.status === "ready");
    if (candidates.length === 0) return { unavailable: `no ready host (${snapshot.hosts.length} lost)` };
  }
  const fitting = candidates.filter((h) => free(h) >= need);
  if (fitting.length === 0) {
    const best = [...candidates].sort((a, b) => free(b) - free(a) || compareNames(a.name, b.name))[0]!;
    return {
      unavailable: `not enough memory: ${need} bytes needed, at most ${Math.max(0, free(best))} free (host ${best.name})`,
    };
  }
  fitting.sort((a, b) => (reserved.get(a.name) ?? 0) - (reserved.get(b.name) ?? 0) || compareNames(a.name, b.name));
  return { place: { host: fitting[0]!.name, reservedBytes: need } };
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
