/**
 * The start dispatcher (durable consumer `api-dispatcher`): on ContainerIpcPrepared it
 * sends StartContainer to the host of ContainerScheduled. The agent reports the outcome
 * (ContainerStarted / ContainerStartFailed), which the report recorder records. Only when
 * no report can come does the dispatcher record the failure itself (derived event id, so
 * a redelivery appends nothing twice): the host is not answering (exit code 125), or it
 * refused the payload as invalid (exit code as Docker maps the reason).
 *
 * Idempotent by state: an event that is not the container's latest IPC preparation, or a
 * container no longer waiting to start, is skipped; the agent answers an attempt it already
 * took (the same ContainerIpcPrepared id) without starting it twice. The durable acknowledges
 * only after the dispatch, so an api killed mid-dispatch leaves the message to its successor.
 */
import { posix as posixPath } from "node:path";
import { accessSync, constants } from "node:fs";
import { decodeEventMessage, eventsStreamName, startDurableConsumer } from "@shoal/bus";
import type { DurableConsumer, EventEnvelope } from "@shoal/bus";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { resolveRuntime } from "@shoal/config";
import type { ConfigSnapshot } from "@shoal/config";
import {
  CONTAINER_EVENT_SCHEMA_VERSIONS,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
  containerDecider,
  containerStreamId,
  derivedEventId,
  describeStartFailure,
  isShoalError,
} from "@shoal/domain";
import type { ContainerDefinition, IpcPlan, RestoreFrom } from "@shoal/domain";
import { reportIds } from "@shoal/host-protocol";
import type { CommandPayload, ContainerStartedPayload } from "@shoal/host-protocol";
import { appendDecided } from "@shoal/event-store";
import { configSnapshotAt, hostCommand, nowIso, runContainerCommand } from "./api-context";
import type { ApiContext } from "./api-context";
import { readContainer } from "./container-record";
import { recordStartedCommand, reportEventId, reportMetadata } from "./report-recorder";
import type { ContainerRecord } from "./container-record";
import { API_ACK_WAIT_MS, keepingAlive } from "./keep-alive";

export const DISPATCHER_DURABLE = "api-dispatcher";

/** The agent's StartContainer payload for one attempt (`attemptId`: the ContainerIpcPrepared event id). */
export function startPayload(
  def: ContainerDefinition,
  plan: IpcPlan,
  snapshot: ConfigSnapshot,
  attemptId: string,
  cwd?: string,
  /** The placement's epoch: the stream version of its ContainerScheduled. */
  epoch?: number,
  /** The checkpoint this start restores. */
  restore?: RestoreFrom,
  /** `-u` or the image's user, and the stop signal (ContainerCreated's `run`). */
  run?: { user?: string; stopSignal?: string },
): CommandPayload<"StartContainer"> {
  const hc = def.hostConfig;
  // Validates the name against the snapshot (unknown: INVALID_ARGUMENT). The agent makes
  // the wrapper for a runtime with args itself, so it gets the binary and the args.
  const locked = resolveRuntime(snapshot, hc.runtime, "/");
  const configured = snapshot.config.runtimes[locked.name]!;
  return {
    containerId: def.id,
    rootfs:
      def.source.kind === "rootfs"
        ? { dir: def.source.path }
        : {
            image: def.source.ref,
            ...(def.source.id !== undefined ? { id: def.source.id } : {}),
            ...(def.source.digest !== undefined ? { digest: def.source.digest } : {}),
          },
    ...(run?.user !== undefined ? { user: run.user } : {}),
    ...(run?.stopSignal !== undefined ? { stopSignal: run.stopSignal } : {}),
    args: def.args,
    env: def.env,
    ...(cwd !== undefined ? { cwd } : {}),
    ipcPlan: plan,
    readonlyRootfs: hc.readonlyRootfs,
    mounts: hc.mounts.map((m) => ({
      source: m.source,
      destination: m.target,
      readonly: m.readonly,
      ...(m.readonlyMode !== undefined ? { readonlyMode: m.readonlyMode === "nonrecursive" ? ("non-recursive" as const) : ("recursive" as const) } : {}),
    })),
    securityOpt: hc.securityOpt,
    privileged: hc.privileged,
    ...(hc.memory !== undefined ? { memoryBytes: hc.memory } : {}),
    ...(hc.nanoCpus !== undefined ? { nanoCpus: hc.nanoCpus } : {}),
    ...(hc.stopOnDisconnectMs !== undefined ? { stopOnDisconnectMs: hc.stopOnDisconnectMs } : {}),
    // The host resolves a bare binary name on its own PATH, and checks the rootfs against the roots.
    runtime: { name: locked.name, path: configured.path, args: [...configured.runtimeArgs] },
    ...(snapshot.config.allowedRootfsRoots.length > 0 ? { allowedRootfsRoots: [...snapshot.config.allowedRootfsRoots] } : {}),
    attemptId,
    ...(epoch !== undefined ? { epoch } : {}),
    ...(restore !== undefined
      ? { restore: { name: restore.name, digest: restore.digest, replicated: restore.replicated, ...(restore.ownerId !== undefined ? { ownerId: restore.ownerId } : {}) } }
      : {}),
  };
}

/** The durable's handler: one ContainerIpcPrepared (an attempt, by its event id), read back from the log. */
export async function dispatchStart(ctx: ApiContext, event: EventEnvelope): Promise<void> {
  const r = await readContainer(ctx.store, (event.data as { containerId: string }).containerId);
  const log = ctx.logger.child({ containerId: r.state.status === "absent" ? undefined : r.state.container.id, eventId: event.eventId });
  if (r.state.status !== "ipc-prepared" || r.lastIpcPreparedEventId !== event.eventId) {
    log.debug({ status: r.state.status }, "start already dispatched or superseded; skipping");
    return;
  }
  const containerId = r.state.container.id;
  const { host, ipcPlan, container } = r.state;
  const fail = async (exitCode: number, reason: string) => {
    try {
      await runContainerCommand(
        ctx,
        { type: "RecordStartFailed", data: { containerId, now: nowIso(), reason, exitCode } },
        { eventIdOf: (i) => derivedEventId(`dispatch-failed:${event.eventId}${i === 0 ? "" : `:${i}`}`), metadata: { actor: "api", causationId: event.eventId } },
      );
    } catch (err) {
      if (err instanceof FailedPreconditionError || err instanceof NotFoundError) {
        log.info({ err: err.message }, "start outcome already recorded");
        return;
      }
      throw err;
    }
  };
  let payload: CommandPayload<"StartContainer">;
  try {
    // The config snapshot the start was requested under (RCU), not whatever is in force now.
    payload = startPayload(container, ipcPlan, await configSnapshotAt(ctx, r.state.configVersion), event.eventId, r.cwd, r.lastScheduledVersion, r.state.restore, r.run);
  } catch (err) {
    if (!isShoalError(err)) throw err;
    await fail(125, err.message);
    return;
  }
  try {
    const started = (await hostCommand(ctx, host, "StartContainer", payload, ctx.timeouts.hostStartMs)) as StartedReply | undefined;
    if (started !== undefined && started.alreadyRunning === false) await recordReply(ctx, r, host, started, log);
  } catch (err) {
    if (err instanceof UnavailableError) {
      log.warn({ host, err: err.message }, "host did not take StartContainer; recording the start as failed");
      await fail(125, err.message);
    } else if (err instanceof InvalidArgumentError) {
      // The agent reports nothing for a payload it refuses.
      const { exitCode, reason } = describeStartFailure({ message: err.message }, err.message);
      await fail(exitCode, reason);
    } else {
      log.info({ host, err: isShoalError(err) ? err.message : String(err) }, "start failed on the host; its report records the outcome");
    }
  }
}

type StartedReply = ContainerStartedPayload & { alreadyRunning: boolean };

/**
 * Records ContainerStarted from the agent's answer — the one recorder of a start — against
 * the record the dispatch was decided on, under the id the report's copy gets, so the start
 * is recorded without waiting for the report and the report then appends nothing. When the
 * stream moved on (the report came first after all, or a removal), this records nothing.
 */
async function recordReply(ctx: ApiContext, r: ContainerRecord, host: string, started: StartedReply, log: ApiContext["logger"]): Promise<void> {
  const reportId = reportIds.containerStarted(started.containerId, started.pid, started.startedAt);
  try {
    await appendDecided(ctx.store, {
      streamId: containerStreamId(started.containerId),
      version: r.version,
      events: containerDecider.decide(recordStartedCommand(ctx, started), r.state),
      eventId: (_e, i) => reportEventId(reportId, i),
      schemaVersion: (type) => CONTAINER_EVENT_SCHEMA_VERSIONS[type],
      metadata: reportMetadata(host, reportId),
    });
  } catch (err) {
    if (!isShoalError(err)) throw err;
    log.debug({ err: err.message }, "start not recorded from the answer: the stream moved on (its report recorded it)");
  }
}

/** StartContainer commands in flight at once (one pull subscriber each on the same durable). */
export const DISPATCHER_CONCURRENCY = 32;

/**
 * Starts DISPATCHER_CONCURRENCY subscribers of the durable, so one slow start on a host
 * does not hold up the others. Order across containers does not matter here, and one
 * container has one ContainerIpcPrepared per attempt.
 */
export async function startDispatcher(ctx: ApiContext, js: JetStreamClient, jsm: JetStreamManager): Promise<DurableConsumer[]> {
  const consumers: DurableConsumer[] = [];
  try {
    for (let i = 0; i < DISPATCHER_CONCURRENCY; i++) consumers.push(await startDispatcherSubscriber(ctx, js, jsm));
  } catch (err) {
    await Promise.all(consumers.map((c) => c.stop()));
    throw err;
  }
  return consumers;
}

function startDispatcherSubscriber(ctx: ApiContext, js: JetStreamClient, jsm: JetStreamManager): Promise<DurableConsumer> {
  return startDurableConsumer({
    js,
    jsm,
    stream: eventsStreamName(ctx.prefix),
    durableName: DISPATCHER_DURABLE,
    filterSubject: `${ctx.prefix}.evt.container.ContainerIpcPrepared`,
    ackWaitMs: API_ACK_WAIT_MS,
    prefetch: 1,
    // Idempotent by the container's state (see dispatchStart): no processed-events round trips on the start path.
    handler: keepingAlive((msg) => dispatchStart(ctx, decodeEventMessage(msg))),
    logger: ctx.logger,
  });
}
