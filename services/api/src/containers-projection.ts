/**
 * The `containers` projection: one row per container not yet removed, for Inspect and
 * List. Kept from the log by a projection runner (`api-containers`); `reset` empties it
 * so it can be rebuilt. It also re-inserts name reservations on ContainerCreated and
 * releases them on ContainerRemoved, so a rebuild leaves `container_names` consistent.
 */
import { expressionBuilder } from "kysely";
import type { Kysely, Transaction, UpdateObject } from "kysely";
import type pg from "pg";
import { isContainerEventType } from "@shoal/domain";
import type { ContainerEvent, ContainerStatus } from "@shoal/domain";
import { FOLLOWER_SETTLE_MS, createProjectionRunner } from "@shoal/event-store";
import type { GlobalEvent, Logger, ProjectionRunner } from "@shoal/event-store";
import type { ApiDatabase } from "./api-database";

export const CONTAINERS_PROJECTION = "api-containers";

/** Applies one event to the projection's rows, through `trx` only. */
export async function applyContainerEvent(event: GlobalEvent, trx: Transaction<ApiDatabase>): Promise<void> {
  if (!isContainerEventType(event.type)) return;
  const e = { type: event.type, data: event.data } as ContainerEvent;
  const id = e.data.containerId;
  switch (e.type) {
    case "ContainerCreated": {
      const d = e.data;
      await trx
        .insertInto("containers")
        .values({
          id,
          name: d.name,
          status: "created",
          created_at: d.createdAt,
          host_config: JSON.stringify(d.hostConfig),
          source: JSON.stringify(d.source),
          args: JSON.stringify(d.args),
          env: JSON.stringify(d.env),
          run: d.run === undefined ? null : JSON.stringify(d.run),
          cwd: d.cwd ?? null,
        })
        .onConflict((oc) => oc.column("id").doNothing())
        .execute();
      await trx
        .insertInto("container_names")
        .values({ name: d.name, container_id: id })
        .onConflict((oc) => oc.doNothing())
        .execute();
      return;
    }
    case "ContainerStartRequested":
      await update(trx, id, {
        status: keepRemoving("starting"),
        // A restart by the policy counts; a user's start begins the count again, as Docker's does.
        restart_count: e.data.automatic === true ? eb("restart_count", "+", 1) : 0,
      });
      return;
    case "ContainerRestartPlanned":
      await update(trx, id, {
        status: eb
          .case()
          .when("status", "in", ["exited", "lost"])
          .then("restarting" as ContainerStatus)
          .else(eb.ref("status"))
          .end(),
      });
      return;
    case "ContainerLost":
      await update(trx, id, { status: keepRemoving("lost"), error: e.data.reason });
      return;
    case "ContainerRecovered":
      await update(trx, id, { status: fromTo("lost", "running"), pid: e.data.pid, error: null });
      return;
    case "ContainerScheduled":
      await update(trx, id, { status: keepRemoving("scheduled"), host: e.data.host });
      return;
    case "ContainerIpcPrepared": {
      const plan = e.data.plan;
      const owner = plan.mode === "container" ? plan.ownerId : plan.mode === "shareable" ? id : null;
      await update(trx, id, { status: keepRemoving("ipc-prepared"), ipc_plan: JSON.stringify(plan), ipc_owner_id: owner });
      return;
    }
    case "ContainerStarted": {
      const d = e.data;
      await update(trx, id, {
        status: keepRemoving("running"),
        pid: d.pid,
        runtime: JSON.stringify(d.runtime),
        config_version: d.configVersion,
        ipc_namespace_inode: d.ipcNamespaceInode ?? null,
        started_at: d.startedAt,
        finished_at: null,
        exit_code: null,
        error: null,
        oom_killed: false,
      });
      return;
    }
    case "ContainerStartFailed":
      await update(trx, id, {
        status: keepRemoving("start-failed"),
        pid: null,
        exit_code: e.data.exitCode,
        error: e.data.reason,
        finished_at: e.data.failedAt,
      });
      return;
    case "ContainerExited":
      await update(trx, id, {
        status: keepRemoving("exited"),
        pid: null,
        exit_code: e.data.exitCode,
        oom_killed: e.data.oomKilled,
        finished_at: e.data.exitedAt,
      });
      return;
    case "ContainerPaused":
      await update(trx, id, { status: fromTo("running", "paused") });
      return;
    case "ContainerUnpaused":
      await update(trx, id, { status: fromTo("paused", "running") });
      return;
    case "ContainerRemovalRequested":
      await update(trx, id, { status: "removing" });
      return;
    case "ContainerRemoved":
      await trx.deleteFrom("containers").where("id", "=", id).execute();
      await trx.deleteFrom("container_names").where("container_id", "=", id).execute();
      return;
    case "ContainerDied":
      await update(trx, id, { status: "dead", pid: null, error: e.data.reason, finished_at: e.data.diedAt });
      return;
    case "ContainerRenamed":
      await update(trx, id, { name: e.data.newName });
      // A rebuild replays this after ContainerCreated reserved the old name (the api moved it already).
      await trx.updateTable("container_names").set({ name: e.data.newName }).where("container_id", "=", id).execute();
      return;
    case "ContainerStopRequested":
      // A stop cancels a restart that waits for its time.
      await update(trx, id, { status: fromTo("restarting", "exited") });
      return;
    case "ContainerKillRequested":
      return;
  }
}

const eb = expressionBuilder<ApiDatabase, "containers">();

/** `to`, except that a container being removed stays `removing`. */
function keepRemoving(to: ContainerStatus) {
  return eb.case().when("status", "=", "removing").then(eb.ref("status")).else(to).end();
}

/** `to` when the status is `from`, else the status as it is. */
function fromTo(from: ContainerStatus, to: ContainerStatus) {
  return eb.case().when("status", "=", from).then(to).else(eb.ref("status")).end();
}

async function update(trx: Transaction<ApiDatabase>, id: string, set: UpdateObject<ApiDatabase, "containers">): Promise<void> {
  await trx.updateTable("containers").set(set).where("id", "=", id).execute();
}

export function createContainersProjection(opts: { db: Kysely<ApiDatabase>; pool: pg.Pool; logger?: Logger }): ProjectionRunner {
  return createProjectionRunner({
    name: CONTAINERS_PROJECTION,
    db: opts.db,
    pool: opts.pool,
    handle: applyContainerEvent,
    reset: async (trx) => {
      await trx.deleteFrom("containers").execute();
    },
    // Inspect, list and removal checks call catchUp(); the live follow can wait.
    settleMs: FOLLOWER_SETTLE_MS,
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
}
