/**
 * Places containers whose start was requested, and frees their reservations when they
 * end. One handler for `<prefix>.evt.container.>` (nats-server 2.9 allows one filter per
 * consumer), filtering by type:
 *
 *   ContainerStartRequested ─ plan (placement.ts) against the view ─► ContainerScheduled{host}   id scheduled:<request id>
 *                                                                 └─► ContainerStartFailed{125}  id no-host:<request id>
 *   ContainerExited / StartFailed / Removed / Died ─► the view's reservation freed
 *
 * The start path is: read the container stream (and the daemon config, in the same query;
 * the placement uses the config version the start request names),
 * plan against the in-memory capacity view (capacity-view.ts), ONE append with the
 * version read (it commits on its own and the store publishes it at once), then reserve
 * in the view. No transaction, lock or table: this process is the only active scheduler
 * (active-lock.ts), and the `placements` table follows the log through the `scheduler`
 * projection, off this path.
 *
 * Idempotent by the stream's own state: a request whose outcome (either derived id) is
 * already in the stream, or that is no longer the container's latest start request, or
 * whose container is no longer `starting`, is acked with nothing appended (a placement
 * found that way, still held, is reserved in the view if it is not yet). A concurrent
 * append to the stream (AbortedError, or a derived id already recorded) re-reads and
 * decides again. UnavailableError once the active lock is lost: nothing is appended and
 * the message is redelivered (to the next active scheduler).
 */
import { AbortedError, AlreadyExistsError, CONTAINER_EVENT_SCHEMA_VERSIONS, containerDecider, derivedEventId } from "@shoal/domain";
import type { ContainerCommand, ContainerEvent, ContainerStartRequested, ContainerState } from "@shoal/domain";
import type { EventEnvelope } from "@shoal/bus";
import { appendDecided, foldStream } from "@shoal/event-store";
import type { EventStore, Logger } from "@shoal/event-store";
import type { CapacityView } from "./capacity-view";
import { containerAsk, pinnedHostOf, scheduledReservation } from "./container-request";
import { createDaemonConfigReader } from "./daemon-config";
import type { DaemonConfigReader } from "./daemon-config";
import type { SchedulerMetrics } from "./metrics";
import { planPlacement } from "./placement";
import { RELEASING_EVENT_TYPES } from "./scheduler-projection";

/** The prefix of the placement durables, one per type in PLACEMENT_EVENT_TYPES (`scheduler-placement-<Type>`). */
export const PLACEMENT_DURABLE = "scheduler-placement";

/** The container events the placement handler acts on: start requests, and what frees a reservation. */
export const PLACEMENT_EVENT_TYPES: readonly string[] = ["ContainerStartRequested", ...RELEASING_EVENT_TYPES];

/** Re-reads after a concurrent append to the container's stream before giving up (the message is then redelivered). */
const RETRIES = 5;

export type PlacementOutcome =
  | { result: "placed"; host: string }
  | { result: "unavailable"; reason: string }
  | { result: "skipped"; why: string }
  | { result: "released"; rows: number }
  | { result: "ignored" };

export function createPlacementHandler(deps: {
  store: EventStore;
  view: CapacityView;
  /** Throws while this process may not place (the active lock is lost). */
  assertActive: () => void;
  metrics: SchedulerMetrics;
  logger: Logger;
  now: () => Date;
  /** The daemon config reader (default: its own). */
  readConfig?: DaemonConfigReader;
}): (event: EventEnvelope) => Promise<PlacementOutcome> {
  const { store, view, metrics, logger } = deps;
  const readConfig = deps.readConfig ?? createDaemonConfigReader(store);

  /** One read (the container's stream and the config, in one query) → plan → append; AbortedError / AlreadyExistsError when the stream moved meanwhile. */
  const attempt = async (event: EventEnvelope): Promise<PlacementOutcome> => {
    const scheduledId = derivedEventId(`scheduled:${event.eventId}`);
    const failedId = derivedEventId(`no-host:${event.eventId}`);
    const read = await readConfig.readWith([event.streamId]);
    const recordedEvents = read.streams.get(event.streamId) ?? [];
    // The config snapshot the start was requested under (read-copy-update); a request
    // recorded without one takes the config read now.
    const requestedVersion = (event.data as ContainerStartRequested["data"]).configVersion;
    const config = (requestedVersion === undefined ? undefined : await readConfig.at(requestedVersion)) ?? read.config;
    const { recorded, state, version } = foldStream(containerDecider, recordedEvents);
    // The start's own pin (`start --host`, a restore where its checkpoint is) over the create's.
    const pin = (event.data as ContainerStartRequested["data"]).host ?? pinnedHostOf(recorded[0]?.data);
    const decided = recorded.find((r) => r.eventId === scheduledId || r.eventId === failedId);
    if (decided !== undefined) {
      // Decided before, maybe by an append whose success was never seen here (a reply lost
      // after the commit, or a scheduler killed before its ack): make sure the view counts it
      // while the container still holds that placement.
      const last = recorded.findLast((r) => r.type === "ContainerScheduled");
      if (decided === last && state.status !== "absent" && holdsHost(state) === (last.data as { host?: unknown }).host) {
        view.reserve({
          containerId: state.container.id,
          containerName: state.container.name,
          host: holdsHost(state)!,
          ...scheduledReservation(last.data, containerAsk(state.container, config, pin)),
          scheduledVersion: last.streamVersion,
        });
      }
      return { result: "skipped", why: "already decided" };
    }
    const latest = recorded.findLast((r) => r.type === "ContainerStartRequested");
    if (latest?.eventId !== event.eventId || state.status !== "starting") {
      return { result: "skipped", why: `superseded (status ${state.status})` };
    }
    const { container } = state;
    const { reservedBytes: _bytes, reservedNanoCpus: _cpus, ...ask } = containerAsk(container, config, pin);
    // A move off a draining host names it: the placement never lands back there.
    const avoidHosts = (event.data as ContainerStartRequested["data"]).avoidHosts;
    const request = avoidHosts !== undefined && avoidHosts.length > 0 ? { ...ask, avoidHosts } : ask;
    // A member's owner, as the api resolved it when it checked the join.
    const ownerId = (event.data as ContainerStartRequested["data"]).ipcOwnerId;
    return view.exclusive(async () => {
      deps.assertActive();
      const inputs = view.inputsFor(container.id, ownerId);
      const plan = planPlacement({
        hosts: inputs.hosts,
        usage: inputs.usage,
        ...(inputs.owner === undefined ? {} : { owner: { containerId: inputs.owner.containerId, host: inputs.owner.host } }),
        request,
      });
      const now = deps.now().toISOString();
      const metadata = { causationId: event.eventId, actor: "scheduler", ...correlation(event) };
      const common = { streamId: event.streamId, version, metadata, schemaVersion: (type: ContainerEvent["type"]) => CONTAINER_EVENT_SCHEMA_VERSIONS[type] };
      if ("place" in plan) {
        const command: ContainerCommand = {
          type: "RecordScheduled",
          // A member's owner as placed: the mount-manager reads its stream with the rest. The
          // reservation travels on the event, for readers that count what a host holds (the api).
          data: {
            containerId: container.id,
            now,
            host: plan.place.host,
            reservedBytes: plan.place.reservedBytes,
            reservedNanoCpus: plan.place.reservedNanoCpus,
            ...(inputs.owner !== undefined ? { ipcOwnerId: inputs.owner.containerId } : {}),
          },
        };
        const events = containerDecider.decide(command, state);
        await appendDecided(store, { ...common, events, eventId: () => scheduledId });
        view.reserve({
          containerId: container.id,
          containerName: container.name,
          host: plan.place.host,
          reservedBytes: plan.place.reservedBytes,
          reservedNanoCpus: plan.place.reservedNanoCpus,
          scheduledVersion: version + events.length,
        });
        return { result: "placed", host: plan.place.host };
      }
      const command: ContainerCommand = {
        type: "RecordStartFailed",
        data: { containerId: container.id, now, exitCode: 125, reason: `no suitable host: ${plan.unavailable}` },
      };
      await appendDecided(store, {
        ...common,
        events: containerDecider.decide(command, state),
        // With --rm the decider adds ContainerRemovalRequested: it gets its own derived id.
        eventId: (_e, i) => (i === 0 ? failedId : derivedEventId(`no-host:${event.eventId}:${i}`)),
      });
      return { result: "unavailable", reason: plan.unavailable };
    });
  };

  const onStartRequested = async (event: EventEnvelope): Promise<PlacementOutcome> => {
    const began = performance.now();
    let outcome: PlacementOutcome;
    for (let tries = 0; ; tries++) {
      try {
        outcome = await attempt(event);
        break;
      } catch (err) {
        if ((err instanceof AbortedError || err instanceof AlreadyExistsError) && tries < RETRIES) continue;
        throw err;
      }
    }
    const ms = performance.now() - began;
    if (outcome.result === "placed" || outcome.result === "unavailable") {
      metrics.placements.inc({ result: outcome.result });
      metrics.placementSeconds.observe({ result: outcome.result }, ms / 1000);
    }
    logger.info({ containerStream: event.streamId, request: event.eventId, ...outcome, ms: Math.round(ms * 10) / 10 }, "placement");
    return outcome;
  };

  return async (event) => {
    if (event.type === "ContainerStartRequested") return onStartRequested(event);
    if (RELEASING_EVENT_TYPES.has(event.type)) {
      const containerId = (event.data as { containerId?: unknown }).containerId;
      if (typeof containerId !== "string") return { result: "ignored" };
      return { result: "released", rows: view.release(containerId, event.streamVersion) };
    }
    return { result: "ignored" };
  };
}

/** The host a container holds a placement on, while it holds one. */
function holdsHost(state: ContainerState): string | undefined {
  switch (state.status) {
    case "scheduled":
    case "ipc-prepared":
    case "running":
    case "paused":
    case "removing":
      return state.host;
    default:
      return undefined;
  }
}

function correlation(event: EventEnvelope): { correlationId?: string } {
  const c = event.metadata["correlationId"];
  return typeof c === "string" ? { correlationId: c } : {};
}
