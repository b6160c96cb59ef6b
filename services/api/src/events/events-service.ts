/**
 * `shoal.v1.Events/Subscribe`: every event after a cursor, in log order, filtered,
 * with no gaps and no duplicates across reconnects (see event-log-reader).
 *
 * Status codes: INVALID_ARGUMENT for a malformed cursor or filter; OUT_OF_RANGE when the
 * cursor (or since time) is older than the oldest kept event, or the log was reset or
 * purged under a reader — never a silent skip; UNAVAILABLE when JetStream is not there.
 * A stream ended by `until_time` finishes with OK. A client cancel deletes the consumer.
 */
import { status } from "@grpc/grpc-js";
import type { Server, ServerWritableStream, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Kysely } from "kysely";
import type { ApiDatabase } from "../api-database";
import type { Logger } from "pino";
import { InternalError, InvalidArgumentError } from "@shoal/domain";
import { createEventMatcher, parseEventFilters } from "./event-filter";
import type { EventFilterSpec, EventMatcher } from "./event-filter";
import { CursorOutOfRangeError, readEventLog } from "./event-log-reader";
import type { LoggedEvent } from "./event-log-reader";
import { parseEventCursor } from "./events-cursor";
import { serviceError, toServiceError } from "./grpc-error";
import { observeRequest } from "./request-metrics";
import type { RequestMetrics } from "./request-metrics";
import { dateToTimestamp, timestampToDate } from "./timestamp";
import type { TimestampLike } from "./timestamp";

export interface EventsServiceDeps {
  /** `proto/shoal/v1/*.proto` loaded with @grpc/proto-loader, `keepCase: false`; must contain `shoal.v1.Events`. */
  packageDefinition: PackageDefinition;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The subject prefix whose `<PREFIX>_EVENTS` stream is read. */
  prefix: string;
  /**
   * Optional: resolves `container=<name>` and `host=` for containers created before the
   * cursor from the api's `container_names` and `containers` tables. Without it (or the
   * tables), names and hosts are learned from the events read.
   */
  db?: Kysely<ApiDatabase>;
  logger?: Logger;
  /** Counts each subscription when it ends as `Events/Subscribe` with its final code (CANCELLED when the client left). */
  metrics?: RequestMetrics;
  /** See EventLogReadOptions.untilGraceMs. */
  untilGraceMs?: number;
}

interface SubscribeRequest {
  sinceCursor?: string;
  sinceTime?: TimestampLike | null;
  untilTime?: TimestampLike | null;
  filters?: { key?: string; values?: string[] }[];
}

/** Adds `shoal.v1.Events` to `server`, using the package definition passed in (it loads nothing itself). */
export function registerEventsService(server: Server, deps: EventsServiceDeps): void {
  const definition = deps.packageDefinition["shoal.v1.Events"] as ServiceDefinition | undefined;
  if (definition === undefined) throw new InternalError("the package definition has no shoal.v1.Events service");
  const implementation: UntypedServiceImplementation = {
    Subscribe: (call: ServerWritableStream<SubscribeRequest, unknown>) => {
      void subscribe(call, deps);
    },
  };
  server.addService(definition, implementation);
}

async function subscribe(call: ServerWritableStream<SubscribeRequest, unknown>, deps: EventsServiceDeps): Promise<void> {
  const started = process.hrtime.bigint();
  const abort = new AbortController();
  const onCancel = (): void => abort.abort();
  call.on("cancelled", onCancel);
  let code: status = status.OK;
  try {
    const req = call.request;
    const cursor = req.sinceCursor ?? "";
    const afterSeq = cursor === "" ? undefined : parseEventCursor(cursor);
    const sinceTime = afterSeq === undefined ? timestampToDate(req.sinceTime) : undefined;
    const untilTime = timestampToDate(req.untilTime);
    if (sinceTime !== undefined && untilTime !== undefined && untilTime < sinceTime) {
      throw new InvalidArgumentError("until time is before since time");
    }
    const spec = parseEventFilters((req.filters ?? []).map((f) => ({ key: f.key ?? "", values: f.values ?? [] })));
    const matcher = createEventMatcher(spec);
    if (deps.db !== undefined) await seedFromProjection(deps.db, spec, matcher, deps.logger);

    const events = readEventLog({
      js: deps.js,
      jsm: deps.jsm,
      prefix: deps.prefix,
      ...(afterSeq !== undefined ? { afterSeq } : {}),
      ...(sinceTime !== undefined ? { sinceTime } : {}),
      ...(untilTime !== undefined ? { untilTime } : {}),
      ...(deps.untilGraceMs !== undefined ? { untilGraceMs: deps.untilGraceMs } : {}),
      signal: abort.signal,
      onUndecodable: (seq, err) => deps.logger?.warn({ seq, err }, "skipped a message that is not an event envelope"),
      onDuplicate: (seq, originalSeq, event) =>
        deps.logger?.info({ seq, originalSeq, eventId: event.eventId }, "skipped a second copy of an event"),
    });
    for await (const logged of events) {
      if (!matcher.accept(logged.event)) continue;
      if (!call.write(toProtoEvent(logged))) {
        await drained(call, abort.signal);
      }
      if (abort.signal.aborted) break;
    }
    if (abort.signal.aborted) code = status.CANCELLED;
    else call.end();
  } catch (err) {
    if (abort.signal.aborted) {
      code = status.CANCELLED;
      return;
    }
    const e = err instanceof CursorOutOfRangeError ? serviceError(status.OUT_OF_RANGE, err.message) : toServiceError(err);
    code = e.code ?? status.INTERNAL;
    if (code === status.INTERNAL || code === status.UNAVAILABLE) deps.logger?.error({ err }, "Events.Subscribe failed");
    call.emit("error", e);
  } finally {
    call.off("cancelled", onCancel);
    observeRequest(deps.metrics, "Events/Subscribe", code, started);
  }
}

function toProtoEvent({ cursor, event }: LoggedEvent): Record<string, unknown> {
  return {
    cursor,
    eventId: event.eventId,
    type: event.type,
    streamId: event.streamId,
    streamVersion: event.streamVersion,
    recordedAt: dateToTimestamp(event.recordedAt),
    dataJson: JSON.stringify(event.data ?? null),
    metadataJson: JSON.stringify(event.metadata ?? {}),
    schemaVersion: event.schemaVersion,
  };
}

function drained(call: ServerWritableStream<SubscribeRequest, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    call.on("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Seeds name → container and host → containers from the api's tables (`container_names`,
 * written with ContainerCreated; `containers.host` from the projection), so a subscription
 * resuming mid-log still knows containers created before its cursor. A failed read is not
 * an error: names and hosts are then learned from the events read.
 */
async function seedFromProjection(
  db: Kysely<ApiDatabase>,
  spec: EventFilterSpec,
  matcher: EventMatcher,
  logger: Logger | undefined,
): Promise<void> {
  const names = [...(spec.containers?.names ?? [])];
  const hosts = [...(spec.hosts ?? [])];
  if (names.length === 0 && hosts.length === 0) return;
  try {
    if (names.length > 0) {
      const rows = await db.selectFrom("container_names").select(["container_id as id", "name"]).where("name", "in", names).execute();
      for (const r of rows) matcher.seedContainerName(r.name, `container-${r.id}`);
    }
    if (hosts.length > 0) {
      const rows = await db.selectFrom("containers").select(["id", "host"]).where("host", "in", hosts).execute();
      for (const r of rows) if (r.host !== null) matcher.seedContainerHost(r.host, `container-${r.id}`);
    }
  } catch (err) {
    logger?.warn({ err }, "could not read the api's container tables for event filters; using the log only");
  }
}
