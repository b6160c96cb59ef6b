/**
 * The checkpoints projection (`api-checkpoints`, table `api_checkpoints`): the checkpoints
 * each container has, for `checkpoint ls` and for finding the one a start restores. Kept
 * from the checkpoint streams by a projection runner; `reset` empties it for a rebuild.
 */
import type { Kysely, Transaction } from "kysely";
import type pg from "pg";
import { isCheckpointEventType } from "@shoal/domain";
import type { CheckpointEvent } from "@shoal/domain";
import { FOLLOWER_SETTLE_MS, createProjectionRunner } from "@shoal/event-store";
import type { GlobalEvent, Logger, ProjectionRunner } from "@shoal/event-store";
import type { ApiDatabase } from "../api-database";

export const CHECKPOINTS_PROJECTION = "api-checkpoints";

export async function applyCheckpointEvent(event: GlobalEvent, trx: Transaction<ApiDatabase>): Promise<void> {
  if (!isCheckpointEventType(event.type)) return;
  const e = { type: event.type, data: event.data } as CheckpointEvent;
  switch (e.type) {
    case "CheckpointCreated":
    case "CheckpointImported": {
      const { importedAt: _, ...facts } = e.data as typeof e.data & { importedAt?: string };
      const row = {
        container_id: facts.containerId,
        name: facts.name,
        digest: facts.digest,
        facts: JSON.stringify(facts),
        replicated: e.type === "CheckpointImported",
        created_at: facts.createdAt,
      };
      await trx
        .insertInto("api_checkpoints")
        .values(row)
        .onConflict((oc) => oc.columns(["container_id", "name"]).doUpdateSet(row))
        .execute();
      return;
    }
    case "CheckpointReplicated":
      await trx
        .updateTable("api_checkpoints")
        .set({ replicated: true })
        .where("container_id", "=", e.data.containerId)
        .where("name", "=", e.data.name)
        .where("digest", "=", e.data.digest)
        .execute();
      return;
    case "CheckpointRemoved":
      await trx.deleteFrom("api_checkpoints").where("container_id", "=", e.data.containerId).where("name", "=", e.data.name).execute();
      return;
  }
}

export function createCheckpointsProjection(opts: { db: Kysely<ApiDatabase>; pool: pg.Pool; logger?: Logger }): ProjectionRunner {
  return createProjectionRunner({
    name: CHECKPOINTS_PROJECTION,
    db: opts.db,
    pool: opts.pool,
    handle: applyCheckpointEvent,
    reset: async (trx) => {
      await trx.deleteFrom("api_checkpoints").execute();
    },
    settleMs: FOLLOWER_SETTLE_MS,
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
}
