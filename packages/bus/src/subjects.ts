import { aggregateOf, InvalidArgumentError } from "@shoal/domain";

/**
 * Subject layout. Every subject starts with a prefix (one token, default `shoal`)
 * so that several installations — or several test runs — share one NATS server
 * without seeing each other's messages.
 *
 *   <prefix>.evt.<aggregate>.<EventType>           domain events (outbox relay → JetStream)
 *   <prefix>.host.<host>.cmd.<CommandName>         request/reply to one host's agent (core NATS)
 *   <prefix>.host.<host>.report.<ReportType>       facts an agent reports (JetStream)
 *   <prefix>.host.<host>.heartbeat                 liveness (core NATS, fire and forget)
 */
export const DEFAULT_SUBJECT_PREFIX = "shoal";

const PREFIX = /^[A-Za-z0-9_-]+$/;

/**
 * Checks one subject token supplied from outside (host name, command, report type):
 * non-empty, and no `.`, `*`, `>` or whitespace, which would change the subject's
 * shape or make it a wildcard. Throws InvalidArgumentError naming `what`.
 */
export function assertSubjectToken(what: string, value: string): void {
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidArgumentError(`${what} must not be empty`);
  }
  if (/[.*>\s]/.test(value)) {
    throw new InvalidArgumentError(`${what} "${value}" must not contain '.', '*', '>' or whitespace`);
  }
}

/**
 * Checks a subject prefix. It is also used in stream names, so it is one token of
 * letters, digits, `_` and `-`. Throws InvalidArgumentError.
 */
export function assertSubjectPrefix(prefix: string): void {
  if (typeof prefix !== "string" || !PREFIX.test(prefix)) {
    throw new InvalidArgumentError(`subject prefix "${prefix}" must be one token of letters, digits, '_' or '-'`);
  }
}

/**
 * `<prefix>.evt.<aggregate>.<EventType>`, the aggregate from the domain's `aggregateOf`;
 * InvalidArgumentError for an unknown type.
 */
export function eventSubject(prefix: string, eventType: string): string {
  assertSubjectPrefix(prefix);
  return `${prefix}.evt.${aggregateOf(eventType)}.${eventType}`;
}

/** `<prefix>.evt.>` without an aggregate, or `<prefix>.evt.<aggregate>.>` for one aggregate. */
export function eventsFilter(prefix: string, aggregate?: string): string {
  assertSubjectPrefix(prefix);
  if (aggregate === undefined) return `${prefix}.evt.>`;
  assertSubjectToken("aggregate", aggregate);
  return `${prefix}.evt.${aggregate}.>`;
}

/** `<prefix>.host.<host>.cmd.<command>`. */
export function hostCommandSubject(prefix: string, host: string, command: string): string {
  assertSubjectPrefix(prefix);
  assertSubjectToken("host name", host);
  assertSubjectToken("command name", command);
  return `${prefix}.host.${host}.cmd.${command}`;
}

/** `<prefix>.host.<host>.report.<reportType>`. */
export function hostReportSubject(prefix: string, host: string, reportType: string): string {
  assertSubjectPrefix(prefix);
  assertSubjectToken("host name", host);
  assertSubjectToken("report type", reportType);
  return `${prefix}.host.${host}.report.${reportType}`;
}

/** Reports of every host (`<prefix>.host.*.report.>`) or of one host. */
export function hostReportsFilter(prefix: string, host?: string): string {
  assertSubjectPrefix(prefix);
  if (host === undefined) return `${prefix}.host.*.report.>`;
  assertSubjectToken("host name", host);
  return `${prefix}.host.${host}.report.>`;
}

/** `<prefix>.host.<host>.heartbeat`, or `<prefix>.host.*.heartbeat` without a host. */
export function hostHeartbeatSubject(prefix: string, host?: string): string {
  assertSubjectPrefix(prefix);
  if (host === undefined) return `${prefix}.host.*.heartbeat`;
  assertSubjectToken("host name", host);
  return `${prefix}.host.${host}.heartbeat`;
}

/** The parts of a host subject; `name` is the command or report type (absent for heartbeats). */
export interface ParsedHostSubject {
  host: string;
  kind: "cmd" | "report" | "heartbeat";
  name?: string;
}

/**
 * Splits a host subject under `prefix`. Returns undefined for a subject that is not
 * one (wrong prefix, wrong shape), so a subscriber can ignore stray messages.
 */
export function parseHostSubject(prefix: string, subject: string): ParsedHostSubject | undefined {
  const parts = subject.split(".");
  if (parts[0] !== prefix || parts[1] !== "host") return undefined;
  const host = parts[2];
  const kind = parts[3];
  if (host === undefined || host.length === 0) return undefined;
  if (kind === "heartbeat" && parts.length === 4) return { host, kind };
  if ((kind === "cmd" || kind === "report") && parts.length === 5 && parts[4]) {
    return { host, kind, name: parts[4] };
  }
  return undefined;
}
