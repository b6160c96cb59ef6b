/**
 * The removal worker (durable consumer `api-removals` on ContainerRemovalRequested):
 * carries out removals nobody is waiting for — `--rm` after an exit or a failed start —
 * and any a crashed api left half done. RemoveContainer does the same inline; both are
 * idempotent (see carryOutRemoval).
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { createIdempotentHandler, createPostgresProcessedEventStore, eventsStreamName, startDurableConsumer } from "@shoal/bus";
import type { DurableConsumer } from "@shoal/bus";
import type { ApiContext } from "./api-context";
import { carryOutRemoval } from "./container-operations";
import { API_ACK_WAIT_MS, keepingAlive } from "./keep-alive";

export const REMOVALS_DURABLE = "api-removals";

export function startRemovalWorker(ctx: ApiContext, js: JetStreamClient, jsm: JetStreamManager): Promise<DurableConsumer> {
  return startDurableConsumer({
    js,
    jsm,
    stream: eventsStreamName(ctx.prefix),
    durableName: REMOVALS_DURABLE,
    filterSubject: `${ctx.prefix}.evt.container.ContainerRemovalRequested`,
    ackWaitMs: API_ACK_WAIT_MS,
    handler: keepingAlive(createIdempotentHandler({
      store: createPostgresProcessedEventStore(ctx.db),
      consumer: REMOVALS_DURABLE,
      handle: (event) => carryOutRemoval(ctx, (event.data as { containerId: string }).containerId),
    })),
    logger: ctx.logger,
  });
}
