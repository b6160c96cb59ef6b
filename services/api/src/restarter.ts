/**
 * The restarter: starts a container again when its restart policy says so.
 *
 *   ContainerRestartPlanned{dueAt}  (durable `api-restarter`, decided with the exit)
 *     not due yet        ─► redelivered at dueAt (DeliverLaterError), nothing else
 *     due, plan in force ─► StartContainer{automatic} ─► ContainerStartRequested{automatic}
 *                           and the one start pipeline from there (scheduler, mount-manager,
 *                           dispatcher); its outcome is recorded as any start's
 *     superseded         ─► nothing (stopped, removed, started by a user, or a newer plan)
 *
 * The plan in force is the container's own: it is `restarting` with this plan's `dueAt`.
 * The start's event ids derive from the plan's, so a redelivery after a crash appends
 * nothing twice. Times are the api's clock against the agent's exit time, as Docker's
 * backoff runs on the daemon's clock.
 */
import { DeliverLaterError, decodeEventMessage, eventsStreamName, startDurableConsumer } from "@shoal/bus";
import type { DurableConsumer, EventEnvelope } from "@shoal/bus";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { derivedEventId } from "@shoal/domain";
import type { ContainerRestartPlanned } from "@shoal/domain";
import type { ApiContext } from "./api-context";
import { requestAutomaticStart } from "./container-operations";
import { readContainer } from "./container-record";
import { API_ACK_WAIT_MS, keepingAlive } from "./keep-alive";

export const RESTARTER_DURABLE = "api-restarter";

/** Handles one ContainerRestartPlanned; throws DeliverLaterError while it is not due. */
export async function restartWhenDue(ctx: ApiContext, event: EventEnvelope, now: () => number = Date.now): Promise<"deferred" | "started" | "superseded"> {
  const plan = event.data as ContainerRestartPlanned["data"];
  const wait = Date.parse(plan.dueAt) - now();
  if (wait > 0) throw new DeliverLaterError(wait);
  const { state } = await readContainer(ctx.store, plan.containerId);
  if (state.status !== "restarting" || state.restartDueAt !== plan.dueAt) return "superseded";
  const started = await requestAutomaticStart(ctx, plan.containerId, (i) => derivedEventId(`restart:${event.eventId}:${i}`));
  if (started) ctx.logger.info({ containerId: plan.containerId, restartCount: plan.restartCount }, "restarting container by its restart policy");
  return started ? "started" : "superseded";
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
    handler: keepingAlive(async (msg) => {
      await restartWhenDue(ctx, decodeEventMessage(msg));
    }),
    logger: ctx.logger,
  });
}
