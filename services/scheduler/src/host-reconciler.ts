/**
 * Reconciliation of hosts against the log, by the active scheduler: it sends each host a
 * fencing `Reconcile` with what the log places there, and adopts what the host still runs.
 *
 *   host registered (start, or back after a cut) ─► reconcileHost(host)  at once
 *   every reconcile interval                     ─► reconcileHost(h)     for each ready host
 *
 *   reconcileHost(h):
 *     expected = the view's reservations on h, each with its epoch (its ContainerScheduled's version)
 *     Reconcile{expected, fence: true} ─► the agent kills and deletes every running copy
 *                                          not placed there (or under another epoch) first,
 *                                          then answers what runs, with pids
 *     for each expected container the host runs ─► RecordRecovered{h, pid}
 *                                          (the decider makes it a no-op unless the
 *                                          container is lost on h: adopted back)
 *     for each one lost on h while starting that h does not run ─► RecordStartFailed
 *                                          (the host came back without it: the start is over)
 *
 * The fence comes before any adoption: the agent answers only after it killed what the log
 * moved elsewhere. A host that does not answer is left for the next round; errors are
 * logged, never thrown.
 */
import type { Kysely } from "kysely";
import type { NatsConnection } from "@nats-io/nats-core";
import { sendHostCommand } from "@shoal/bus";
import { containerDecider, containerStreamId, derivedEventId, CONTAINER_EVENT_SCHEMA_VERSIONS } from "@shoal/domain";
import type { ContainerCommand, ContainerEvent, ContainerState } from "@shoal/domain";
import type { EventStore, Logger } from "@shoal/event-store";
import type { CapacityView } from "./capacity-view";
import { decideInTransaction } from "./decide-in-transaction";
import type { SchedulerDatabase } from "./scheduler-database";

/** Hosts reconciled at once in a round. */
const RECONCILE_CONCURRENCY = 16;

/** What the agent answers a Reconcile with (the parts read here). */
type ReconcileReply = { fenced?: string[]; processes?: { containerId: string; pid: number }[] };

export interface HostReconciler {
  /** One fencing reconcile of `host`; resolves with what it fenced and adopted (never rejects). */
  reconcileHost(host: string): Promise<{ fenced: string[]; recovered: string[] } | undefined>;
  /** Reconciles every ready host, RECONCILE_CONCURRENCY at a time. */
  reconcileAll(): Promise<void>;
}

export function createHostReconciler(deps: {
  db: Kysely<SchedulerDatabase>;
  store: EventStore;
  nc: NatsConnection;
  prefix: string;
  view: CapacityView;
  readyHosts: () => Promise<string[]>;
  assertActive: () => void;
  logger: Logger;
  now: () => Date;
  /** How long a host may take to answer (fencing kills containers); default 60 000 ms. */
  timeoutMs?: number;
}): HostReconciler {
  const { logger } = deps;
  const inFlight = new Map<string, Promise<{ fenced: string[]; recovered: string[] } | undefined>>();

  const recover = async (host: string, containerId: string, pid: number): Promise<boolean> => {
    deps.assertActive();
    const { appended } = await decideInTransaction<ContainerState, ContainerCommand, ContainerEvent>(deps.db, deps.store, {
      streamId: containerStreamId(containerId),
      decider: containerDecider,
      schemaVersion: (type) => CONTAINER_EVENT_SCHEMA_VERSIONS[type],
      metadata: { actor: "scheduler" },
      async plan(_trx, { state }) {
        if (state.status !== "lost" || state.host !== host) return undefined;
        return {
          command: { type: "RecordRecovered", data: { containerId, now: deps.now().toISOString(), host, pid } },
          eventId: () => derivedEventId(`recovered:${containerId}:${host}:${state.lostAt}`),
        };
      },
    });
    return appended.length > 0;
  };

  /** A container lost on `host` before its start started anything, which `host` does not run: its start failed. */
  const endLostStart = async (host: string, containerId: string): Promise<void> => {
    deps.assertActive();
    await decideInTransaction<ContainerState, ContainerCommand, ContainerEvent>(deps.db, deps.store, {
      streamId: containerStreamId(containerId),
      decider: containerDecider,
      schemaVersion: (type) => CONTAINER_EVENT_SCHEMA_VERSIONS[type],
      metadata: { actor: "scheduler" },
      async plan(_trx, { state }) {
        if (state.status !== "lost" || state.host !== host || state.process !== undefined) return undefined;
        const reason = `host ${host} was lost during the start and came back without the container`;
        return {
          command: { type: "RecordStartFailed", data: { containerId, now: deps.now().toISOString(), reason, exitCode: 125 } },
          eventId: (_e, i) => derivedEventId(`lost-start:${containerId}:${host}:${state.lostAt}${i === 0 ? "" : `:${i}`}`),
        };
      },
    });
  };

  const once = async (host: string) => {
    const expected = deps.view.reservationsOn(host).map((r) => ({ containerId: r.containerId, epoch: r.scheduledVersion }));
    let reply: ReconcileReply;
    try {
      reply = await sendHostCommand<ReconcileReply>(deps.nc, {
        prefix: deps.prefix,
        host,
        command: "Reconcile",
        payload: { expected, fence: true },
        timeoutMs: deps.timeoutMs ?? 60_000,
      });
    } catch (err) {
      logger.warn({ host, err: (err as Error).message }, "host did not reconcile; trying again next round");
      return undefined;
    }
    const placed = new Set(expected.map((e) => e.containerId));
    const recovered: string[] = [];
    for (const p of reply.processes ?? []) {
      if (!placed.has(p.containerId)) continue;
      try {
        if (await recover(host, p.containerId, p.pid)) recovered.push(p.containerId);
      } catch (err) {
        logger.error({ host, containerId: p.containerId, err }, "could not record a lost container as recovered");
      }
    }
    const running = new Set((reply.processes ?? []).map((p) => p.containerId));
    for (const containerId of placed) {
      if (running.has(containerId)) continue;
      try {
        await endLostStart(host, containerId);
      } catch (err) {
        logger.error({ host, containerId, err }, "could not end the start of a container lost with its host");
      }
    }
    const fenced = reply.fenced ?? [];
    if (fenced.length > 0 || recovered.length > 0) logger.warn({ host, fenced, recovered }, "host reconciled: copies placed elsewhere killed, lost containers adopted");
    return { fenced, recovered };
  };

  return {
    reconcileHost(host) {
      // One at a time per host: a registration and the periodic round may coincide.
      const running = inFlight.get(host);
      if (running !== undefined) return running.then(() => this.reconcileHost(host));
      const p = once(host)
        .catch((err: unknown) => {
          logger.error({ host, err }, "reconcile of host failed");
          return undefined;
        })
        .finally(() => inFlight.delete(host));
      inFlight.set(host, p);
      return p;
    },
    async reconcileAll() {
      // A few hosts at a time: a round over a thousand hosts is not a thousand round trips in a row.
      const queue = await deps.readyHosts();
      const worker = async () => {
        for (let host = queue.shift(); host !== undefined; host = queue.shift()) await this.reconcileHost(host);
      };
      await Promise.all(Array.from({ length: RECONCILE_CONCURRENCY }, worker));
    },
  };
}
