/**
 * The active scheduler's in-memory view of capacity: hosts (status, memory, CPUs) and the
 * reservation each placed container holds, summed per host. Placements are planned against it, so the
 * start path reads no table.
 *
 * Contract:
 * - Only the one active scheduler (see active-lock.ts) keeps a view, and it must be the
 *   only writer of placements: the view counts what this process placed plus what the
 *   tables held when it was loaded.
 * - Load it from the `hosts` and `placements` tables only after the `scheduler`
 *   projection has applied every committed event (start-scheduler.ts waits for that).
 * - Keep it current: `reserve` after a ContainerScheduled append succeeded, `release` for
 *   every releasing event (RELEASING_EVENT_TYPES) delivered, `registerHost` / `markHostLost`
 *   after those appends succeeded.
 * - Decide inside `exclusive`: a plan and the append it leads to run with no other
 *   decision of this process in between, so two placements never plan against the same
 *   view and a host marked lost is never chosen afterwards.
 * Every update is monotonic, as the tables' writes are: a reservation follows the newest
 * ContainerScheduled (`scheduledVersion`), a release frees only reservations made before
 * it, a host follows its newest registration and a loss applies only to the one it names.
 */
import type { HostUsage, HostView, Reserved } from "./placement";

/** What a placed container holds on its host until it exits, fails, dies or is removed. */
export type Reservation = Reserved & {
  containerId: string;
  /** For `container:<name>` owner lookups. */
  containerName: string;
  host: string;
  /** Stream version of the ContainerScheduled that made it. */
  scheduledVersion: number;
};

export type ViewHost = HostView & {
  /** The registration in force (epoch ms); a loss names it. */
  registeredAt: number;
};

/** What `planPlacement` needs for one request, read from the view. */
export type PlacementInputs = {
  hosts: HostView[];
  /**
   * Per-host totals of every reservation but the request's own (a restarted container does
   * not compete with its old reservation).
   */
  usage: HostUsage[];
  /** The member's owner (by the id its start request carries), when it is placed. */
  owner?: Reservation;
};

export interface CapacityView {
  /** Hosts and per-host usage as `planPlacement` takes them, for `containerId` (and, for a member, its owner's id). */
  inputsFor(containerId: string, ownerId?: string): PlacementInputs;
  /** Records a placement; ignored when the container holds one made by the same or a newer ContainerScheduled. */
  reserve(r: Reservation): void;
  /** Frees the container's reservation unless it was made at or after `beforeVersion`; returns how many were freed (0 or 1). */
  release(containerId: string, beforeVersion: number): number;
  /**
   * Applies a registration; ignored when the host has one at least as new. `nanoCpus`
   * absent: the host reported no CPU count, and CPUs do not limit it.
   */
  registerHost(h: { name: string; memoryBytes: number; nanoCpus?: number; registeredAt: string | Date }): void;
  /** The image ids a host's heartbeat says it holds (a placement preference); ignored for an unknown host. */
  setHostImages(name: string, imageIds: readonly string[]): void;
  /** Starts (`shoal host drain`) or ends (`shoal host activate`) a host's drain; ignored for an unknown host. */
  setDraining(name: string, draining: boolean): void;
  /** Marks the host lost when `registeredAt` is the registration in force. */
  markHostLost(h: { name: string; registeredAt: string | Date }): void;
  /** The reservations on `host`, in container id order. */
  reservationsOn(host: string): Reservation[];
  host(name: string): ViewHost | undefined;
  /**
   * Runs `fn` when no other `exclusive` call of this view is running (FIFO). A throw is
   * passed on and releases the turn.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

export function createCapacityView(initial: {
  hosts: readonly { name: string; status: "ready" | "lost"; memoryBytes: number; nanoCpus?: number; draining?: boolean; registeredAt: Date }[];
  placements: readonly Reservation[];
}): CapacityView {
  const hosts = new Map<string, ViewHost>();
  const reservations = new Map<string, Reservation>();
  /** The same reservations by host, kept in step with `reservations` (what fencing sends a host). */
  const onHost = new Map<string, Map<string, Reservation>>();
  const index = (r: Reservation, present: boolean) => {
    let m = onHost.get(r.host);
    if (present) {
      if (m === undefined) onHost.set(r.host, (m = new Map()));
      m.set(r.containerId, r);
    } else if (m !== undefined) {
      m.delete(r.containerId);
      if (m.size === 0) onHost.delete(r.host);
    }
  };
  /** Sum of `reservations` per host, kept in step with it; a host holding none has no entry. */
  const usageOn = new Map<string, HostUsage>();
  let turn: Promise<unknown> = Promise.resolve();

  const add = (r: Reservation, sign: 1 | -1) => {
    const u = usageOn.get(r.host) ?? { host: r.host, containers: 0, reservedBytes: 0, reservedNanoCpus: 0 };
    const next = {
      host: r.host,
      containers: u.containers + sign,
      reservedBytes: u.reservedBytes + sign * r.reservedBytes,
      reservedNanoCpus: u.reservedNanoCpus + sign * r.reservedNanoCpus,
    };
    if (next.containers === 0) usageOn.delete(r.host);
    else usageOn.set(r.host, next);
  };
  const hostView = (h: {
    name: string;
    status: "ready" | "lost";
    memoryBytes: number;
    nanoCpus?: number | undefined;
    draining?: boolean | undefined;
    images?: ReadonlySet<string> | undefined;
  }): HostView => ({
    name: h.name,
    status: h.status,
    memoryBytes: h.memoryBytes,
    ...(h.nanoCpus === undefined ? {} : { nanoCpus: h.nanoCpus }),
    ...(h.draining === true ? { draining: true } : {}),
    ...(h.images === undefined ? {} : { images: h.images }),
  });

  for (const h of initial.hosts) hosts.set(h.name, { ...hostView(h), registeredAt: h.registeredAt.getTime() });
  for (const p of initial.placements) {
    reservations.set(p.containerId, { ...p });
    index(reservations.get(p.containerId)!, true);
    add(p, 1);
  }

  return {
    inputsFor(containerId, ownerId) {
      const own = reservations.get(containerId);
      const usage: HostUsage[] = [];
      for (const u of usageOn.values()) {
        if (own?.host !== u.host) usage.push({ ...u });
        else if (u.containers > 1) {
          usage.push({
            host: u.host,
            containers: u.containers - 1,
            reservedBytes: u.reservedBytes - own.reservedBytes,
            reservedNanoCpus: u.reservedNanoCpus - own.reservedNanoCpus,
          });
        }
      }
      const owner = ownerId === undefined || ownerId === containerId ? undefined : reservations.get(ownerId);
      return {
        hosts: [...hosts.values()].map(hostView),
        usage,
        ...(owner === undefined ? {} : { owner: { ...owner } }),
      };
    },

    reserve(r) {
      const held = reservations.get(r.containerId);
      if (held !== undefined) {
        if (held.scheduledVersion >= r.scheduledVersion) return;
        add(held, -1);
        index(held, false);
      }
      reservations.set(r.containerId, { ...r });
      index(reservations.get(r.containerId)!, true);
      add(r, 1);
    },

    release(containerId, beforeVersion) {
      const held = reservations.get(containerId);
      if (held === undefined || held.scheduledVersion >= beforeVersion) return 0;
      reservations.delete(containerId);
      index(held, false);
      add(held, -1);
      return 1;
    },

    registerHost(h) {
      const at = new Date(h.registeredAt).getTime();
      const known = hosts.get(h.name);
      if (known !== undefined && known.registeredAt >= at) return;
      // A drain outlives the host's new registrations.
      hosts.set(h.name, { ...hostView({ ...h, status: "ready", draining: known?.draining, images: known?.images }), registeredAt: at });
    },

    setHostImages(name, imageIds) {
      const known = hosts.get(name);
      if (known === undefined) return;
      hosts.set(name, { ...known, images: new Set(imageIds) });
    },

    setDraining(name, draining) {
      const known = hosts.get(name);
      if (known === undefined) return;
      hosts.set(name, { ...hostView({ ...known, draining }), registeredAt: known.registeredAt });
    },

    markHostLost(h) {
      const known = hosts.get(h.name);
      if (known === undefined || known.registeredAt !== new Date(h.registeredAt).getTime()) return;
      hosts.set(h.name, { ...known, status: "lost" });
    },

    reservationsOn(host) {
      return [...(onHost.get(host)?.values() ?? [])]
        .sort((a, b) => (a.containerId < b.containerId ? -1 : a.containerId > b.containerId ? 1 : 0))
        .map((r) => ({ ...r }));
    },

    host(name) {
      const h = hosts.get(name);
      return h === undefined ? undefined : { ...h };
    },

    exclusive(fn) {
      const result = turn.then(fn);
      turn = result.catch(() => undefined);
      return result;
    },
  };
}
