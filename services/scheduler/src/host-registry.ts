/**
 * Hosts: registration from agent reports, liveness from heartbeats, loss and its
 * consequences.
 *
 *   report HostRegistered ─► HostRegistered on host-<name>        id host-registered:<report id>
 *                            then the reconciler fences the host (host-reconciler.ts)
 *   heartbeats (core NATS) ─► last seen, in memory and in hosts.last_heartbeat
 *   liveness tick: ready host silent > heartbeat-timeout ─► HostLost   id host-lost:<host>:<registeredAt>
 *     (not while this scheduler's own NATS round trips fail, and not when every one of
 *     several hosts is silent at once: that is the scheduler's fault, not theirs)
 *   HostLost (durable) ─► ContainerLost for each container the capacity view has placed
 *                         there and still live on it (lost, not dead; its restart policy
 *                         may plan a restart elsewhere in the same append)
 *                                                                 id lost:<host lost id>:<container id>
 *
 * Registrations and losses are decided inside the view's `exclusive` section and applied
 * to it once appended (with the `hosts` row in the append's transaction), so no placement
 * is planned between a HostLost and the view learning of it: every container the HostLost
 * handler must report is in the view.
 *
 * A lost host that heartbeats again stays lost (logged) until it registers again: its
 * agent does so whenever its link to the control plane returns after a cut, and at start.
 * The registration makes it ready, and the reconciler then fences it: copies of containers
 * placed elsewhere meanwhile are killed before anything still placed there is adopted.
 *
 * "Last seen" is the latest of: a heartbeat received, the stored last_heartbeat, the
 * registration, and this scheduler's own start (so a restarted scheduler gives every
 * host one full timeout before judging it).
 */
import type { Kysely } from "kysely";
import { containerDecider, containerStreamId, derivedEventId, hostStreamId, InvalidArgumentError } from "@shoal/domain";
import { CONTAINER_EVENT_SCHEMA_VERSIONS } from "@shoal/domain";
import type { ContainerCommand, ContainerEvent, ContainerState } from "@shoal/domain";
import { REPORT_TYPES, parseReportPayload } from "@shoal/host-protocol";
import type { HostRegisteredPayload } from "@shoal/host-protocol";
import type { EventEnvelope, HostReport } from "@shoal/bus";
import type { EventStore, Logger } from "@shoal/event-store";
import type { CapacityView } from "./capacity-view";
import { decideInTransaction } from "./decide-in-transaction";
import { createDaemonConfigReader } from "./daemon-config";
import { HOST_EVENT_SCHEMA_VERSIONS, hostDecider } from "./host-decider";
import type { HostCommand, HostEvent, HostState } from "./host-decider";
import { listHosts, markHostRowLost, recordHeartbeat, upsertRegisteredHost } from "./scheduler-tables";

export const HOSTS_DURABLE = "scheduler-hosts";
export const HOST_LOST_DURABLE = "scheduler-host-lost";

export interface HostRegistry {
  /** Records one HostRegistered report (idempotent by report id). InvalidArgumentError for a malformed one. */
  onRegistrationReport(report: HostReport): Promise<"registered" | "unchanged">;
  /** Notes a heartbeat received now from `host`. */
  onHeartbeat(host: string): void;
  /** Marks every ready host silent for longer than the configured timeout lost; returns their names. */
  checkLiveness(): Promise<string[]>;
  /** Marks the live containers of a lost host lost; returns how many were recorded. */
  onHostEvent(event: EventEnvelope): Promise<number>;
}

export function createHostRegistry(deps: {
  db: Kysely<any>;
  store: EventStore;
  /** The active scheduler's capacity view: registrations and losses are applied to it once appended. */
  view: CapacityView;
  /** Throws while this process may not decide (the active lock is lost). */
  assertActive: () => void;
  logger: Logger;
  now: () => Date;
  /** Memory assumed for a host whose registration does not say (agents do not report it yet). */
  defaultHostMemoryBytes: number;
  /** Write a host's last_heartbeat at most this often (default 1000 ms). */
  heartbeatWriteIntervalMs?: number;
  /**
   * False while this scheduler cannot reach NATS itself: then no host is judged lost (its
   * silence would be the scheduler's own). Default: always true.
   */
  natsHealthy?: () => boolean;
  /** Called after a new registration of `host` was recorded (the reconciler fences it). */
  onRegistered?: (host: string) => void;
}): HostRegistry {
  const { db, store, view, logger } = deps;
  const startedAt = deps.now().getTime();
  const readConfig = createDaemonConfigReader(store);
  const lastSeen = new Map<string, number>();
  const lastWritten = new Map<string, number>();
  const writeEvery = deps.heartbeatWriteIntervalMs ?? 1000;
  const warnedLost = new Set<string>();
  const warnedUnknown = new Set<string>();
  let warnedOwnLink = false;
  let warnedAllSilent = false;

  // The host row commits with its event (ListHosts and the liveness check read it at once);
  // the view follows once it has committed, with no placement decided in between.
  const hostCommand = (
    host: string,
    plan: (state: HostState) => { command: HostCommand; eventId: string } | undefined,
  ) =>
    view.exclusive(async () => {
      deps.assertActive();
      const result = await decideInTransaction<HostState, HostCommand, HostEvent>(db, store, {
        streamId: hostStreamId(host),
        decider: hostDecider,
        schemaVersion: (type) => HOST_EVENT_SCHEMA_VERSIONS[type],
        metadata: { actor: "scheduler" },
        async plan(_trx, { state }) {
          const p = plan(state);
          return p === undefined ? undefined : { command: p.command, eventId: () => p.eventId };
        },
        async then(trx, { appended }) {
          for (const e of appended) {
            if (e.type === "HostRegistered") await upsertRegisteredHost(trx, e.data);
            else if (e.type === "HostLost") await markHostRowLost(trx, e.data);
          }
        },
      });
      for (const e of result.appended) {
        if (e.type === "HostRegistered") {
          const { host, memoryBytes, nanoCpus, registeredAt } = e.data;
          view.registerHost({ name: host, memoryBytes, ...(nanoCpus === undefined ? {} : { nanoCpus }), registeredAt });
        }
        else if (e.type === "HostLost") view.markHostLost({ name: e.data.host, registeredAt: e.data.registeredAt });
      }
      return result;
    });

  return {
    async onRegistrationReport(report) {
      // InvalidArgumentError naming the field when it is not HostRegistered's wire shape.
      const payload = parseReportPayload(REPORT_TYPES.hostRegistered, report.payload);
      if (payload.host !== report.host) {
        throw new InvalidArgumentError(`HostRegistered report ${report.reportId} names host ${payload.host} on host ${report.host}'s subject`);
      }
      // A registration after a cut carries its own time; the first one is the agent's start.
      const registeredAt = payload.registeredAt ?? payload.startedAt;
      const memoryBytes = memoryOf(payload) ?? deps.defaultHostMemoryBytes;
      // An agent that reports no CPU count (an older one) is not limited by CPUs.
      const { nanoCpus } = payload;
      const { appended } = await hostCommand(report.host, () => ({
        command: {
          type: "RegisterHost",
          data: { host: report.host, capabilities: payload.capabilities, memoryBytes, ...(nanoCpus === undefined ? {} : { nanoCpus }), registeredAt },
        },
        eventId: derivedEventId(`host-registered:${report.reportId}`),
      }));
      lastSeen.set(report.host, Math.max(lastSeen.get(report.host) ?? 0, deps.now().getTime()));
      if (appended.length > 0) {
        logger.info({ host: report.host, memoryBytes, nanoCpus, registeredAt }, "host registered");
        // Fence before anything is adopted: the host kills what the log placed elsewhere meanwhile.
        deps.onRegistered?.(report.host);
      }
      return appended.length > 0 ? "registered" : "unchanged";
    },

    onHeartbeat(host) {
      const at = deps.now().getTime();
      lastSeen.set(host, at);
      if (at - (lastWritten.get(host) ?? 0) < writeEvery) return;
      lastWritten.set(host, at);
      recordHeartbeat(db, host, new Date(at)).then(
        (status) => {
          // Its containers were marked lost; only a new registration (the agent registers again
          // when its link returns) makes it ready again, and fenced.
          if (status === "lost" && !warnedLost.has(host)) {
            warnedLost.add(host);
            logger.warn({ host }, "heartbeat from a host marked lost: restart its agent to register it again");
          } else if (status === "ready") warnedLost.delete(host);
          else if (status === undefined && !warnedUnknown.has(host)) {
            warnedUnknown.add(host);
            logger.warn({ host }, "heartbeat from a host that never registered");
          }
        },
        (err: unknown) => logger.warn({ host, err }, "could not record heartbeat"),
      );
    },

    async checkLiveness() {
      const { heartbeatTimeoutMs } = await readConfig.read();
      const now = deps.now().getTime();
      const lost: string[] = [];
      // Liveness uses this scheduler's clock only, and only while its own link to NATS works.
      if (deps.natsHealthy !== undefined && !deps.natsHealthy()) {
        if (!warnedOwnLink) logger.warn({}, "this scheduler cannot reach NATS: no host is judged lost until it can");
        warnedOwnLink = true;
        return lost;
      }
      warnedOwnLink = false;
      const ready = (await listHosts(db)).filter((h) => h.status === "ready");
      const seenOf = (h: (typeof ready)[number]) =>
        Math.max(lastSeen.get(h.name) ?? 0, h.lastHeartbeat?.getTime() ?? 0, h.registeredAt.getTime(), startedAt);
      const silent = ready.filter((h) => now - seenOf(h) > heartbeatTimeoutMs);
      // Every host silent at once is this scheduler's fault (its subscription, its network), not
      // theirs. "At once": when one passes the timeout, every other one has been silent for at
      // least half of it too (they went quiet together, not one by one).
      const quiet = ready.filter((h) => now - seenOf(h) > heartbeatTimeoutMs / 2);
      if (silent.length > 0 && ready.length > 1 && quiet.length === ready.length) {
        if (!warnedAllSilent) logger.warn({ hosts: ready.length }, "every host is silent at once: suspecting this scheduler, judging none lost");
        warnedAllSilent = true;
        return lost;
      }
      warnedAllSilent = false;
      for (const h of silent) {
        const seen = seenOf(h);
        const registeredAt = h.registeredAt.toISOString();
        const { appended } = await hostCommand(h.name, () => ({
          command: {
            type: "MarkHostLost",
            data: {
              host: h.name,
              registeredAt,
              lastSeenAt: new Date(seen).toISOString(),
              timeoutMs: heartbeatTimeoutMs,
              now: new Date(now).toISOString(),
            },
          },
          eventId: derivedEventId(`host-lost:${h.name}:${registeredAt}`),
        }));
        if (appended.length > 0) {
          lost.push(h.name);
          logger.warn({ host: h.name, lastSeenAt: new Date(seen).toISOString(), heartbeatTimeoutMs }, "host lost");
        }
      }
      return lost;
    },

    async onHostEvent(event) {
      // A drain (the api records it) stops placements on the host at once; the api moves what runs there.
      if (event.type === "HostDrainRequested" || event.type === "HostActivated") {
        await view.exclusive(async () => view.setDraining((event.data as { host: string }).host, event.type === "HostDrainRequested"));
        return 0;
      }
      if (event.type !== "HostLost") return 0;
      const { host, registeredAt } = event.data as { host: string; registeredAt: string };
      // Already so when this process appended it; not when an earlier scheduler did.
      view.markHostLost({ name: host, registeredAt });
      let lost = 0;
      // Every placement on it: the lost host was never chosen after its HostLost was appended.
      for (const p of view.reservationsOn(host)) {
        deps.assertActive();
        const lostId = derivedEventId(`lost:${event.eventId}:${p.containerId}`);
        const { appended } = await decideInTransaction<ContainerState, ContainerCommand, ContainerEvent>(db, store, {
          streamId: containerStreamId(p.containerId),
          decider: containerDecider,
          schemaVersion: (type) => CONTAINER_EVENT_SCHEMA_VERSIONS[type],
          metadata: { causationId: event.eventId, actor: "scheduler" },
          async plan(_trx, { recorded, state }) {
            if (recorded.some((r) => r.eventId === lostId) || !liveOn(state, host)) return undefined;
            return {
              // Lost, not dead: it may still run there. Its restart policy may plan a restart
              // (placed elsewhere); the host, if it returns, is fenced before anything is adopted.
              command: { type: "RecordLost", data: { containerId: p.containerId, now: deps.now().toISOString(), host, reason: `host ${host} lost` } },
              eventId: (_e, i) => (i === 0 ? lostId : derivedEventId(`lost:${event.eventId}:${p.containerId}:${i}`)),
            };
          },
        });
        if (appended.length > 0) lost += 1;
      }
      if (lost > 0) logger.warn({ host, containers: lost }, "containers of a lost host marked lost");
      return lost;
    },
  };
}

/** True while the container holds (or may hold) a process or a placement on `host`. */
function liveOn(state: ContainerState, host: string): boolean {
  switch (state.status) {
    case "scheduled":
    case "ipc-prepared":
    case "running":
    case "paused":
      return state.host === host;
    case "removing":
      return state.host === host;
    default:
      return false;
  }
}

/** The memory a host offers: the report's `memoryBytes`, else one its capabilities carry (as older agents and tests send it). */
function memoryOf(payload: HostRegisteredPayload): number | undefined {
  for (const v of [payload.memoryBytes, (payload.capabilities as { memoryBytes?: unknown }).memoryBytes]) {
    if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
  }
  return undefined;
}
