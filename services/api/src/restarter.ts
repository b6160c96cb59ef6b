/**
 * The restarter: starts a container again when its restart policy says so.
 *
 *   ContainerRestartPlanned{dueAt}  (durable `api-restarter`, decided with the exit)
 *     not due yet        ─► redelivered at dueAt (DeliverLaterError), nothing else
 *     due, plan in force ─► StartContainer{automatic} ─► ContainerStartRequested{automatic}
 *                           and the one start pipeline from there (scheduler, mount-manager,
 *                           dispatcher); its outcome is recorded as any start's
 *     superseded         ─► nothing (stopped, removed, started by a user, or a newer plan)
 *     a member whose owner is itself being restarted or started
 *                        ─► deferred until the owner runs: a group comes back as a unit,
 *                           the owner first, then its members into the new owner's namespace
 *
 * The plan in force is the container's own: it is `restarting` with this plan's `dueAt`.
 * The start's event ids derive from the plan's, so a redelivery after a crash appends
 * nothing twice. Times are the api's clock against the agent's exit time, as Docker's
 * backoff runs on the daemon's clock.
 */
import { DeliverLaterError, decodeEventMessage, eventsStreamName, startDurableConsumer } from "@shoal/bus";
import type { DurableConsumer, EventEnvelope } from "@shoal/bus";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { derivedEventId, isStartInProgress, joinedContainerRef } from "@shoal/domain";
import type { ContainerRestartPlanned, IpcMode } from "@shoal/domain";
import type { ApiContext } from "./api-context";
import { requestAutomaticStart } from "./container-operations";
import { readContainer } from "./container-record";
import { resolveContainer } from "./container-queries";
import { API_ACK_WAIT_MS, keepingAlive } from "./keep-alive";

export const RESTARTER_DURABLE = "api-restarter";

/**
 * Handles one ContainerRestartPlanned; throws DeliverLaterError while it is not due, or
 * while a member's owner is not running yet (`deliveryCount` grows that wait: 250 ms,
 * doubling, at most 5 s).
 */
export async function restartWhenDue(
  ctx: ApiContext,
  event: EventEnvelope,
  now: () => number = Date.now,
  deliveryCount = 1,
): Promise<"deferred" | "started" | "superseded"> {
  const plan = event.data as ContainerRestartPlanned["data"];
  const wait = Date.parse(plan.dueAt) - now();
  if (wait > 0) throw new DeliverLaterError(wait);
  const { state } = await readContainer(ctx.store, plan.containerId);
  if (state.status !== "restarting" || state.restartDueAt !== plan.dueAt) return "superseded";
  if (await ownerComingBack(ctx, state.container.hostConfig.ipcMode)) {
    throw new DeliverLaterError(Math.min(OWNER_WAIT_MS * 2 ** Math.max(0, deliveryCount - 1), OWNER_WAIT_MAX_MS));
  }
  const started = await requestAutomaticStart(ctx, plan.containerId, (i) => derivedEventId(`restart:${event.eventId}:${i}`));
  if (started) ctx.logger.info({ containerId: plan.containerId, restartCount: plan.restartCount }, "restarting container by its restart policy");
  return started ? "started" : "superseded";
}

/** How soon a member's restart looks again for its owner to run, at first and at most. */
const OWNER_WAIT_MS = 250;
const OWNER_WAIT_MAX_MS = 5_000;

/** True when the container joins an owner that is itself restarting or starting (so not running yet). */
async function ownerComingBack(ctx: ApiContext, ipcMode: IpcMode): Promise<boolean> {
  const ref = joinedContainerRef(ipcMode);
  if (ref === undefined) return false;
  const owner = await resolveContainer(ctx.db, ref).catch(() => undefined);
  if (owner === undefined) return false;
  const { state } = await readContainer(ctx.store, owner.id);
  return state.status === "restarting" || isStartInProgress(state);
}

/** The restarter's durable consumer; plans of different containers wait side by side (each deferred by JetStream, none held here). */
export function startRestarter(ctx: ApiContext, js: JetStreamClient, jsm: JetStreamManager): Promise<DurableConsumer> {
  return startDurableConsumer({
    js,
    jsm,
    stream: eventsStreamName(ctx.prefix),
    durableName: RESTARTER_DURABLE,
    filterSubject: `${ctx.prefix}.evt.container.ContainerRestartPlanned`,
    ackWaitMs: API_ACK_WAIT_MS,
    // Deferrals are deliveries too (a plan not due yet, a member waiting for its owner): no
    // cap, or a member whose owner takes long to come back would be dropped, left restarting.
    maxDeliver: -1,
    handler: keepingAlive(async (msg) => {
      await restartWhenDue(ctx, decodeEventMessage(msg), Date.now, msg.deliveryCount);
    }),
    logger: ctx.logger,
  });
}
