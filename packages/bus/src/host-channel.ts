import type { JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders, RequestError, TimeoutError } from "@nats-io/nats-core";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { errorFromCode, InternalError, InvalidArgumentError, isShoalError, UnavailableError } from "@shoal/domain";
import type { ErrorCode } from "@shoal/domain";
import { stderrBusLogger } from "./bus-logger";
import type { BusLogger } from "./bus-logger";
import {
  assertSubjectPrefix,
  assertSubjectToken,
  hostCommandSubject,
  hostHeartbeatSubject,
  hostReportSubject,
  parseHostSubject,
} from "./subjects";
import type { ReceivedMessage } from "./event-publisher";

/** Runs one command on the agent; its result must be JSON-serialisable (bigint becomes a string). */
export type HostCommandHandler = (payload: unknown) => Promise<unknown>;

export interface ServeHostCommandsOptions {
  prefix: string;
  host: string;
  /** Command name → handler. A command with no handler is answered with InvalidArgumentError. */
  handlers: Record<string, HostCommandHandler>;
  logger?: BusLogger;
}

export interface HostCommandServer {
  /** Stops taking commands and waits for the ones being handled to be answered. Idempotent. */
  stop(): Promise<void>;
}

/** The reply body on the wire. Add fields only. */
type CommandReply = { ok: true; result: unknown } | { ok: false; error: { code: ErrorCode; message: string } };

/**
 * Answers commands sent to `host` (`<prefix>.host.<host>.cmd.*`). Handlers run
 * concurrently. A ShoalError thrown by a handler goes back with its code and message;
 * any other error goes back as INTERNAL with a generic message and is logged here.
 * The subscription uses a queue group per host, so while an old and a new agent of
 * the same host overlap, each command is handled once.
 *
 * Ordering contract: the reply is handed to the connection in the same turn in which the
 * handler's promise settles (no await in between), so anything a handler schedules for the
 * next turn (`setImmediate`) is published after its reply — the agent's ContainerStarted
 * report relies on this to follow its StartContainer reply.
 */
export function serveHostCommands(nc: NatsConnection, options: ServeHostCommandsOptions): HostCommandServer {
  const { prefix, host, handlers } = options;
  const logger = options.logger ?? stderrBusLogger;
  assertSubjectPrefix(prefix);
  assertSubjectToken("host name", host);
  for (const name of Object.keys(handlers)) assertSubjectToken("command name", name);

  const inFlight = new Set<Promise<void>>();
  const answer = async (msg: Msg): Promise<void> => {
    const command = parseHostSubject(prefix, msg.subject)?.name ?? "";
    let reply: CommandReply;
    try {
      const handler = Object.hasOwn(handlers, command) ? handlers[command] : undefined;
      if (handler === undefined) {
        throw new InvalidArgumentError(`host ${host} does not handle command ${command}`);
      }
      const payload: unknown = msg.data.length === 0 ? undefined : JSON.parse(new TextDecoder().decode(msg.data));
      reply = { ok: true, result: await handler(payload) };
    } catch (err) {
      if (isShoalError(err)) {
        reply = { ok: false, error: { code: err.code, message: err.message } };
      } else {
        logger.error({ host, command, err }, "host command failed unexpectedly");
        reply = { ok: false, error: { code: "INTERNAL", message: `command ${command} failed on host ${host}` } };
      }
    }
    // Keep this in the turn the handler settled in (see the ordering contract above).
    if (msg.reply) msg.respond(encodeJson(reply));
  };

  const sub: Subscription = nc.subscribe(`${prefix}.host.${host}.cmd.*`, {
    queue: `${prefix}.host.${host}`,
    callback: (err, msg) => {
      if (err) {
        logger.error({ host, err }, "host command subscription failed");
        return;
      }
      const p = answer(msg).catch((e: unknown) => logger.error({ host, err: e }, "could not answer host command"));
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    },
  });

  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        if (!sub.isClosed()) await sub.drain();
        await Promise.all([...inFlight]);
      })();
      return stopped;
    },
  };
}

export interface SendHostCommandOptions {
  prefix: string;
  host: string;
  command: string;
  payload?: unknown;
  /** How long to wait for the agent's answer. */
  timeoutMs: number;
}

/**
 * Sends `command` to `host`'s agent and resolves with its result.
 *
 * Errors: the ShoalError class the agent's handler threw, with its message;
 * UnavailableError("host <h> is not answering") when no agent listens for it;
 * UnavailableError when the agent does not answer within `timeoutMs` (the command
 * may still have run); InvalidArgumentError for a bad host or command name.
 */
export async function sendHostCommand<TResult = unknown>(
  nc: NatsConnection,
  options: SendHostCommandOptions,
): Promise<TResult> {
  const { prefix, host, command, timeoutMs } = options;
  const subject = hostCommandSubject(prefix, host, command);
  let msg: Msg;
  try {
    msg = await nc.request(subject, encodeJson(options.payload ?? null), { timeout: timeoutMs });
  } catch (err) {
    if (err instanceof RequestError && err.isNoResponders()) {
      throw new UnavailableError(`host ${host} is not answering`, { cause: err });
    }
    if (err instanceof TimeoutError) {
      throw new UnavailableError(`host ${host} did not answer ${command} within ${timeoutMs} ms`, { cause: err });
    }
    throw new UnavailableError(`could not send ${command} to host ${host}`, { cause: err });
  }
  let reply: CommandReply;
  try {
    reply = JSON.parse(new TextDecoder().decode(msg.data)) as CommandReply;
  } catch (err) {
    throw new InternalError(`host ${host} sent an unreadable answer to ${command}`, { cause: err });
  }
  if (reply.ok) return reply.result as TResult;
  throw errorFromCode(reply.error?.code, reply.error?.message ?? `command ${command} failed on host ${host}`);
}

/** A fact an agent reports; recorded by the control plane as an event. */
export interface HostReport {
  /** Unique per fact; a republish with the same id is dropped by JetStream's dedup window. */
  reportId: string;
  host: string;
  type: string;
  payload: unknown;
  reportedAt: Date;
}

export interface PublishHostReportOptions {
  prefix: string;
  host: string;
  type: string;
  payload: unknown;
  reportId: string;
  /** Default: now. */
  reportedAt?: Date;
  /** How long to wait for JetStream's PubAck; default 5000 ms. */
  timeoutMs?: number;
}

/**
 * Publishes a report to `<prefix>.host.<host>.report.<type>` on JetStream with
 * `Nats-Msg-Id` = reportId, and resolves once it is stored (`duplicate` true when it
 * already was). Errors: InvalidArgumentError for bad names; UnavailableError when
 * JetStream does not acknowledge (retry with the same reportId).
 */
export async function publishHostReport(
  js: JetStreamClient,
  options: PublishHostReportOptions,
): Promise<{ seq: number; duplicate: boolean }> {
  const { prefix, host, type, reportId } = options;
  const subject = hostReportSubject(prefix, host, type);
  if (reportId.length === 0) throw new InvalidArgumentError("reportId must not be empty");
  const body = {
    reportId,
    host,
    type,
    payload: options.payload,
    reportedAt: (options.reportedAt ?? new Date()).toISOString(),
  };
  const h = natsHeaders();
  h.set("Shoal-Host", host);
  h.set("Shoal-Report-Type", type);
  h.set("Content-Type", "application/json");
  try {
    const ack = await js.publish(subject, encodeJson(body), {
      msgID: reportId,
      headers: h,
      timeout: options.timeoutMs ?? 5_000,
    });
    return { seq: ack.seq, duplicate: ack.duplicate };
  } catch (err) {
    throw new UnavailableError(`could not publish report ${type} of host ${host}`, { cause: err });
  }
}

/** Reads a message written by `publishHostReport`; InvalidArgumentError when it is not one. */
export function decodeHostReport(msg: ReceivedMessage): HostReport {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(new TextDecoder().decode(msg.data)) as Record<string, unknown>;
  } catch (err) {
    throw new InvalidArgumentError(`message on ${msg.subject} is not JSON`, { cause: err });
  }
  const reportedAt = new Date(typeof o?.reportedAt === "string" ? o.reportedAt : NaN);
  if (
    typeof o?.reportId !== "string" ||
    typeof o.host !== "string" ||
    typeof o.type !== "string" ||
    Number.isNaN(reportedAt.getTime())
  ) {
    throw new InvalidArgumentError(`message on ${msg.subject} is not a host report`);
  }
  return { reportId: o.reportId, host: o.host, type: o.type, payload: o.payload, reportedAt };
}

/** What a heartbeat carries; `details` is whatever the agent adds (load, version …). */
export interface HostHeartbeat {
  host: string;
  sentAt: Date;
  details: Record<string, unknown>;
}

/**
 * Publishes one heartbeat on `<prefix>.host.<host>.heartbeat` (core NATS: fire and
 * forget; a missed one is covered by the next, and liveness is decided by the
 * scheduler's timeout, not by any single message).
 */
export function publishHeartbeat(
  nc: NatsConnection,
  options: { prefix: string; host: string; details?: Record<string, unknown>; sentAt?: Date },
): void {
  const subject = hostHeartbeatSubject(options.prefix, options.host);
  nc.publish(
    subject,
    encodeJson({ host: options.host, sentAt: (options.sentAt ?? new Date()).toISOString(), details: options.details ?? {} }),
  );
}

/**
 * Calls `onHeartbeat` for every heartbeat of every host under `prefix`. Malformed
 * heartbeats are logged and dropped. `stop()` unsubscribes.
 */
export function subscribeHeartbeats(
  nc: NatsConnection,
  options: { prefix: string; onHeartbeat: (beat: HostHeartbeat) => void; logger?: BusLogger },
): { stop(): Promise<void> } {
  const logger = options.logger ?? stderrBusLogger;
  const sub = nc.subscribe(hostHeartbeatSubject(options.prefix), {
    callback: (err, msg) => {
      if (err) {
        logger.error({ err }, "heartbeat subscription failed");
        return;
      }
      const host = parseHostSubject(options.prefix, msg.subject)?.host;
      try {
        const o = JSON.parse(new TextDecoder().decode(msg.data)) as Record<string, unknown>;
        const sentAt = new Date(typeof o.sentAt === "string" ? o.sentAt : NaN);
        // The subject, not the body, says which host it is: a body cannot claim another host.
        if (host === undefined || Number.isNaN(sentAt.getTime())) throw new Error("bad heartbeat");
        const details = typeof o.details === "object" && o.details !== null ? (o.details as Record<string, unknown>) : {};
        options.onHeartbeat({ host, sentAt, details });
      } catch (e) {
        logger.warn({ subject: msg.subject, err: e }, "dropping malformed heartbeat");
      }
    },
  });
  return {
    async stop() {
      if (!sub.isClosed()) await sub.drain();
    },
  };
}

function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) ?? "null",
  );
}
