/**
 * Placement: which host runs a container. Pure — a read-only snapshot in, a plan out;
 * the placement consumer applies the plan (see README.md).
 *
 * Rules:
 * - Lost hosts are never chosen, nor draining ones (`shoal host drain`), nor a host the
 *   request avoids (`avoidHosts`: a move off a host never lands back on it).
 * - A member (`container:<owner>`) goes to its owner's host and nowhere else: the owner
 *   not placed, or its host lost, or a pin to another host, or no room left there for the
 *   member, is `unavailable`. (A draining owner host still takes its members: the group is
 *   moved as a unit, the owner first.)
 * - An IPC group is placed as one unit: the owner reserves its own memory plus the
 *   group's shm (one tmpfs, shared by every member); a member reserves only its own memory.
 *   A `private` container reserves memory plus its own shm tmpfs; `none` and `host` only memory.
 *   Every container reserves its own CPUs (`--cpus`; none asked reserves 0).
 * - Capacity: a host fits when its reserved bytes plus the request's stay within its
 *   memory, and its reserved CPUs plus the request's within its CPUs. A host that reported
 *   no CPU count is not limited by CPUs.
 * - A pinned host is honoured or the request is `unavailable` with the reason (a draining
 *   or avoided pinned host too).
 * - Spread: among the hosts that fit, the one with the fewest placed containers, then the
 *   smallest fraction of its memory reserved, then the first by name. The result does not
 *   depend on the order of the snapshot's hosts or usage.
 * - Nothing fits: `unavailable` names what the request needs and the closest host (the
 *   one missing the smallest share of the request), what it has free and what is short.
 */
import { formatCpus } from "@shoal/domain";
import type { ResolvedIpcMode } from "@shoal/domain";

export type HostView = {
  name: string;
  status: "ready" | "lost";
  /** Memory the host offers to containers, in bytes. */
  memoryBytes: number;
  /** CPUs the host offers, in nano-CPUs; absent when its registration reported none (CPUs then do not limit it). */
  nanoCpus?: number;
  /** `shoal host drain` in force: no new placement (but an owner's members) goes there. */
  draining?: boolean;
  /** Ids of the images the host holds, as its heartbeats last said (absent: not known). */
  images?: ReadonlySet<string>;
};

/**
 * What the containers placed on one host hold there, the request's own earlier reservation
 * left out (a container being placed again does not compete with itself). A host with no
 * entry holds nothing; at most one entry per host.
 */
export type HostUsage = {
  host: string;
  /** Containers holding a reservation on the host. */
  containers: number;
  /** Memory plus the shm tmpfs they brought, in bytes. */
  reservedBytes: number;
  reservedNanoCpus: number;
};

export type PlacementRequest = {
  containerId: string;
  /** The mode after the daemon default was applied. */
  ipcMode: ResolvedIpcMode;
  /** The container's memory limit (`--memory`); absent counts as 0. */
  memoryBytes?: number;
  /** The container's CPU limit (`--cpus`) in nano-CPUs; absent counts as 0. */
  nanoCpus?: number;
  /** Size of the shm tmpfs this container would bring (0 when it brings none). */
  shmBytes: number;
  pinnedHost?: string;
  /** Hosts this placement must not use (a move off a draining host). */
  avoidHosts?: readonly string[];
  /** The image the container runs (its id): a host holding it counts one container fewer when spreading. */
  imageId?: string;
};

export type PlacementSnapshot = {
  hosts: readonly HostView[];
  usage: readonly HostUsage[];
  /** For a member: its owner and the host the owner is placed on, when the owner holds a placement. */
  owner?: { containerId: string; host: string };
  request: PlacementRequest;
};

/** What a placement holds on its host until the container exits, fails, dies or is removed. */
export type Reserved = { reservedBytes: number; reservedNanoCpus: number };

export type PlacementPlan = { place: { host: string } & Reserved } | { unavailable: string };

/** What a request reserves on its host (see the capacity rules above). */
export function reservationOf(request: PlacementRequest): Reserved {
  const memory = request.memoryBytes ?? 0;
  const reservedNanoCpus = request.nanoCpus ?? 0;
  switch (request.ipcMode.kind) {
    case "private":
    case "shareable":
      return { reservedBytes: memory + request.shmBytes, reservedNanoCpus };
    case "none":
    case "host":
    case "container":
      return { reservedBytes: memory, reservedNanoCpus };
  }
}

const NO_USAGE: HostUsage = { host: "", containers: 0, reservedBytes: 0, reservedNanoCpus: 0 };

/** Free memory and CPUs of one host (negative when it holds more than it offers now); CPUs undefined: unlimited. */
type Free = { bytes: number; nanoCpus: number | undefined };

export function planPlacement(snapshot: PlacementSnapshot): PlacementPlan {
  const { request } = snapshot;
  const need = reservationOf(request);
  const usageOf = new Map(snapshot.usage.map((u) => [u.host, u]));
  const used = (h: HostView) => usageOf.get(h.name) ?? NO_USAGE;
  const free = (h: HostView): Free => ({
    bytes: h.memoryBytes - used(h).reservedBytes,
    nanoCpus: h.nanoCpus === undefined ? undefined : h.nanoCpus - used(h).reservedNanoCpus,
  });
  const fits = (h: HostView) => shortOf(need, free(h)).length === 0;
  const place = (h: HostView): PlacementPlan => ({ place: { host: h.name, ...need } });
  const byName = new Map(snapshot.hosts.map((h) => [h.name, h]));

  if (request.ipcMode.kind === "container") {
    const owner = snapshot.owner;
    if (owner === undefined) return { unavailable: `IPC owner ${request.ipcMode.ref} is not placed on any host` };
    const host = byName.get(owner.host);
    if (host === undefined || host.status !== "ready") {
      return { unavailable: `host ${owner.host} of IPC owner ${owner.containerId} is lost` };
    }
    if (request.pinnedHost !== undefined && request.pinnedHost !== host.name) {
      return { unavailable: `pinned to host ${request.pinnedHost} but IPC owner ${owner.containerId} runs on host ${host.name}` };
    }
    if (!fits(host)) {
      return { unavailable: `no room for the member on host ${host.name} of IPC owner ${owner.containerId}: ${describeShortfall(need, host.name, free(host))}` };
    }
    return place(host);
  }

  const avoided = new Set(request.avoidHosts ?? []);
  if (request.pinnedHost !== undefined) {
    const pinned = byName.get(request.pinnedHost);
    if (pinned === undefined) return { unavailable: `pinned host ${request.pinnedHost} is not registered` };
    if (pinned.status !== "ready") return { unavailable: `pinned host ${request.pinnedHost} is lost` };
    if (pinned.draining === true || avoided.has(pinned.name)) return { unavailable: `pinned host ${request.pinnedHost} is draining` };
    if (!fits(pinned)) return { unavailable: `no room on pinned host ${pinned.name}: ${describeShortfall(need, pinned.name, free(pinned))}` };
    return place(pinned);
  }

  if (snapshot.hosts.length === 0) return { unavailable: "no hosts registered" };
  const ready = snapshot.hosts.filter((h) => h.status === "ready" && h.draining !== true && !avoided.has(h.name));
  if (ready.length === 0) {
    const lost = snapshot.hosts.filter((h) => h.status !== "ready").length;
    return { unavailable: `no ready host (${lost} lost, ${snapshot.hosts.length - lost} draining or avoided)` };
  }
  const fitting = ready.filter(fits);
  if (fitting.length > 0) {
    // A host that already holds the image is worth one container less: a preference that
    // saves a pull, never a rule (a busier host still loses to a quieter one).
    const holds = (h: HostView) => (request.imageId !== undefined && h.images?.has(request.imageId) === true ? 1 : 0);
    const spread = (a: HostView, b: HostView) =>
      used(a).containers - holds(a) - (used(b).containers - holds(b)) ||
      memoryFraction(a, used(a)) - memoryFraction(b, used(b)) ||
      compareNames(a.name, b.name);
    return place(fitting.reduce((best, h) => (spread(h, best) < 0 ? h : best)));
  }
  const missing = (h: HostView) => missingShare(need, free(h));
  const closest = ready.reduce((best, h) => (missing(h) - missing(best) || compareNames(h.name, best.name)) < 0 ? h : best);
  return { unavailable: `no host has room: ${describeShortfall(need, `${closest.name} (the closest)`, free(closest))}` };
}

/** The resources `free` lacks for `need`, each with how much is short. */
function shortOf(need: Reserved, free: Free): { resource: "cpus" | "memory"; short: number }[] {
  const short: { resource: "cpus" | "memory"; short: number }[] = [];
  if (free.nanoCpus !== undefined && free.nanoCpus < need.reservedNanoCpus) {
    short.push({ resource: "cpus", short: need.reservedNanoCpus - Math.max(0, free.nanoCpus) });
  }
  if (free.bytes < need.reservedBytes) short.push({ resource: "memory", short: need.reservedBytes - Math.max(0, free.bytes) });
  return short;
}

/**
 * How far a host is from fitting: the share of the request it lacks, per resource, summed
 * (0 to 2). A resource the request does not ask for but the host has over-committed
 * counts as wholly missing.
 */
function missingShare(need: Reserved, free: Free): number {
  let share = 0;
  for (const s of shortOf(need, free)) {
    const asked = s.resource === "cpus" ? need.reservedNanoCpus : need.reservedBytes;
    share += asked > 0 ? Math.min(1, s.short / asked) : 1;
  }
  return share;
}

/** `2 CPUs and 512MiB of memory needed; host h2 has 1.5 CPUs and 1GiB free (0.5 CPUs short)`. */
function describeShortfall(need: Reserved, hostLabel: string, free: Free): string {
  const short = shortOf(need, free);
  const showCpus = need.reservedNanoCpus > 0 || short.some((s) => s.resource === "cpus");
  const needed = `${showCpus ? `${cpus(need.reservedNanoCpus)} and ` : ""}${bytes(need.reservedBytes)} of memory`;
  // A host that reported no CPU count is never short of CPUs: only its memory is shown.
  const freeCpus = showCpus && free.nanoCpus !== undefined ? `${cpus(Math.max(0, free.nanoCpus))} and ` : "";
  const has = `${freeCpus}${bytes(Math.max(0, free.bytes))}`;
  const lacking = short.map((s) => (s.resource === "cpus" ? cpus(s.short) : `${bytes(s.short)} of memory`)).join(" and ");
  return `${needed} needed; host ${hostLabel} has ${has} free (${lacking} short)`;
}

/** Reserved memory as a share of the host's (a host offering none: 0 when empty, else 1 or more). */
function memoryFraction(h: HostView, u: HostUsage): number {
  if (h.memoryBytes > 0) return u.reservedBytes / h.memoryBytes;
  return u.reservedBytes > 0 ? Infinity : 0;
}

function cpus(nanoCpus: number): string {
  const text = formatCpus(nanoCpus);
  return `${text} ${text === "1" ? "CPU" : "CPUs"}`;
}

/** Binary units, as `docker stats` and `shoal hosts` print memory: `512MiB`, `1.5GiB`. */
function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(3).replace(/\.?0+$/, "")}${units[unit]}`;
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
