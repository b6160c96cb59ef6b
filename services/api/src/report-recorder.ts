/**
 * The report recorder (durable consumer `api-reports` on `<prefix>.host.*.report.>`):
 * turns what agents report into container events, with event ids derived from the report
 * id (`report:<id>`), so a redelivered report appends nothing twice.
 *
 *   ContainerStarted     → RecordStarted (pid, locked-in runtime; the decider records the start request's config version)
 *   ContainerStartFailed → RecordStartFailed
 *   ContainerExited      → RecordExited (oomKilled when a ContainerOom of that pid came first)
 *   ContainerOom         → remembered in container_oom_reports (forgotten once that incarnation's exit is recorded)
 *   HostRegistered       → ignored (the scheduler's)
 *
 * ContainerStarted has one recorder: the dispatcher records it from the agent's reply, under
 * the id this report's copy gets; a report finds that id in the stream and appends nothing
 * (`recordedAs`). It records the start only when no reply was recorded (the api that sent
 * the command died, or the reply was lost), and then the reply's later append finds the
 * stream moved and records nothing. No timer, no wait between the two.
 *
 * A report the decider refuses (e.g. about a removed container) is logged and acknowledged — except an exit that arrives while its start is still being
 * recorded (its ContainerStarted report was redelivered late): that one is retried. With `--rm` the decider adds ContainerRemovalRequested; the
 * removal worker carries it out.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { decodeHostReport, hostReportsFilter, reportsStreamName, startDurableConsumer } from "@shoal/bus";
import type { DeliveredMessage, DurableConsumer, HostReport } from "@shoal/bus";
import { InvalidArgumentError, UnavailableError, derivedEventId, isShoalError, isStartInProgress } from "@shoal/domain";
import type { ContainerCommand } from "@shoal/domain";
import { REPORT_TYPES, parseReportPayload } from "@shoal/host-protocol";
import type { ContainerStartedPayload } from "@shoal/host-protocol";
import { runContainerCommand } from "./api-context";
import type { ApiContext } from "./api-context";
import { readContainer } from "./container-record";
import { API_ACK_WAIT_MS, keepingAlive } from "./keep-alive";

export const REPORTS_DURABLE = "api-reports";

export async function recordReport(ctx: ApiContext, report: HostReport): Promise<void> {
  const log = ctx.logger.child({ reportId: report.reportId, host: report.host, type: report.type });
  const reportedAt = report.reportedAt.toISOString();
  let command: ContainerCommand;
  try {
    switch (report.type) {
      case REPORT_TYPES.containerStarted:
        command = recordStartedCommand(ctx, parseReportPayload(report.type, report.payload));
        break;
      case REPORT_TYPES.containerStartFailed: {
        const p = parseReportPayload(report.type, report.payload);
        command = { type: "RecordStartFailed", data: { containerId: p.containerId, now: reportedAt, reason: p.reason, exitCode: p.exitCode } };
        break;
      }
      case REPORT_TYPES.containerExited: {
        const p = parseReportPayload(report.type, report.payload);
        const oom = await ctx.db
          .selectFrom("container_oom_reports")
          .select("pid")
          .where("container_id", "=", p.containerId)
          .where("pid", "=", p.pid)
          .executeTakeFirst();
        // The reporting host: an exit from a host the container no longer runs on (a copy a
        // returning host fenced) is refused by the decider, not recorded.
        command = {
          type: "RecordExited",
          data: { containerId: p.containerId, exitCode: p.exitCode, exitedAt: p.exitedAt, oomKilled: oom !== undefined, host: report.host },
        };
        break;
      }
      case REPORT_TYPES.containerOom: {
        const p = parseReportPayload(report.type, report.payload);
        await ctx.db.insertInto("container_oom_reports").values({ container_id: p.containerId, pid: p.pid }).onConflict((oc) => oc.doNothing()).execute();
        return;
      }
      default:
        return;
    }
  } catch (err) {
    // A payload that is not the report's wire shape can never be recorded: logged and acked.
    if (!(err instanceof InvalidArgumentError)) throw err;
    log.warn({ err: err.message }, "report not recorded: malformed payload");
    return;
  }
  try {
    const result = await runContainerCommand(ctx, command, {
      eventIdOf: (i) => reportEventId(report.reportId, i),
      metadata: reportMetadata(report.host, report.reportId),
    });
    log.debug({ appended: result.appended.map((e) => e.type), duplicate: result.duplicate }, "report recorded");
    if (command.type === "RecordExited") {
      // The incarnation is over: its OOM reports may not speak for a later one that happens to
      // get the same pid (on another host, in its own pid namespace).
      await ctx.db.deleteFrom("container_oom_reports").where("container_id", "=", command.data.containerId).execute();
    }
  } catch (err) {
    if (isShoalError(err) && err.code !== "UNAVAILABLE" && err.code !== "ABORTED" && err.code !== "INTERNAL") {
      if (command.type === "RecordExited" && (await startStillPending(ctx, command.data.containerId))) {
        // The exit overtook its start's report (a redelivery comes back late): retry it later.
        throw new UnavailableError(`exit of ${command.data.containerId} arrived before its start was recorded`, { cause: err });
      }
      log.warn({ err: err.message }, "report not recorded: the container's log refuses it");
      return;
    }
    throw err;
  }
}

async function startStillPending(ctx: ApiContext, containerId: string): Promise<boolean> {
  const r = await readContainer(ctx.store, containerId).catch(() => undefined);
  return r !== undefined && isStartInProgress(r.state);
}

/** RecordStarted for what an agent says of a started container: its report, or its answer to StartContainer. */
export function recordStartedCommand(ctx: Pick<ApiContext, "config">, p: ContainerStartedPayload): ContainerCommand {
  return {
    type: "RecordStarted",
    data: {
      containerId: p.containerId,
      now: p.startedAt,
      pid: p.pid,
      ...(p.ipcNamespaceInode > 0 ? { ipcNamespaceInode: p.ipcNamespaceInode } : {}),
      runtime: { name: p.runtime.name, path: p.runtime.path, args: p.runtime.args },
      configVersion: ctx.config.current().version,
    },
  };
}

/** The id of the `index`th event recorded for report `reportId`: whoever records it first, it is appended once. */
export function reportEventId(reportId: string, index: number): string {
  return derivedEventId(`report:${reportId}${index === 0 ? "" : `:${index}`}`);
}

export function reportMetadata(host: string, reportId: string): { actor: string; causationId: string } {
  return { actor: `host:${host}`, causationId: reportId };
}

export function startReportRecorder(ctx: ApiContext, js: JetStreamClient, jsm: JetStreamManager): Promise<DurableConsumer> {
  return startDurableConsumer({
    js,
    jsm,
    stream: reportsStreamName(ctx.prefix),
    durableName: REPORTS_DURABLE,
    filterSubject: hostReportsFilter(ctx.prefix),
    ackWaitMs: API_ACK_WAIT_MS,
    handler: keepingAlive((msg: DeliveredMessage) => recordReport(ctx, decodeHostReport(msg))),
    logger: ctx.logger,
  });
}
