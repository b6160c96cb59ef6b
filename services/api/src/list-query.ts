/**
 * ListContainers' pure part: Docker-style filters, the page size and the opaque page
 * token, and how the domain's statuses show to users.
 */
import { z } from "zod";
import { InvalidArgumentError } from "@shoal/domain";
import type { ContainerStatus } from "@shoal/domain";

/** The statuses users see (ContainerStateInfo.status). */
export const PUBLIC_STATUSES = ["created", "starting", "running", "paused", "restarting", "lost", "exited", "removing", "dead"] as const;
export type PublicStatus = (typeof PUBLIC_STATUSES)[number];

/**
 * How a domain status shows: the steps of a start are `starting`; a failed start is
 * `exited` (with its exit code and error), as `docker ps -a` lists it.
 */
export function publicStatus(s: ContainerStatus): PublicStatus {
  switch (s) {
    case "created":
      return "created";
    case "starting":
    case "scheduled":
    case "ipc-prepared":
      return "starting";
    case "running":
      return "running";
    case "paused":
      return "paused";
    case "restarting":
      return "restarting";
    case "lost":
      return "lost";
    case "exited":
    case "start-failed":
      return "exited";
    case "removing":
    case "absent":
    case "removed":
      return "removing";
    case "dead":
      return "dead";
  }
}

/** The domain statuses behind one public status. */
export function domainStatusesOf(s: PublicStatus): ContainerStatus[] {
  const all: ContainerStatus[] = [
    "created",
    "starting",
    "scheduled",
    "ipc-prepared",
    "running",
    "paused",
    "exited",
    "start-failed",
    "removing",
    "dead",
  ];
  return all.filter((d) => publicStatus(d) === s);
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
const FILTER_KEYS = ["name", "id", "status", "host", "ipc-owner"] as const;

/** A parsed ListContainers request. */
export type ListQuery = {
  /** Domain statuses to include; undefined: all. */
  statuses?: ContainerStatus[];
  /** Substring of the name. */
  name?: string;
  /** Prefix of the id. */
  idPrefix?: string;
  host?: string;
  /** Prefix of the IPC owner's id. */
  ipcOwnerPrefix?: string;
  pageSize: number;
  /** Rows strictly after this (created_at, id) key. */
  after?: PageKey;
};

/** Where a page ends, in (created time, id) order. */
export type PageKey = { createdAt: string; id: string };

/**
 * Parses `all`, `filters` (name=, id=, status=, host=, ipc-owner=), `pageSize` (0: 100,
 * at most 1000) and `pageToken`. Without `all` only running and paused containers are
 * listed (unless a status filter says otherwise), as `docker ps`. InvalidArgumentError
 * for an unknown filter key, status, negative size or a token this api did not make.
 */
export function parseListQuery(req: { all: boolean; filters: Record<string, string>; pageSize: number; pageToken: string }): ListQuery {
  for (const key of Object.keys(req.filters)) {
    if (!(FILTER_KEYS as readonly string[]).includes(key)) {
      throw new InvalidArgumentError(`invalid filter '${key}' (want one of ${FILTER_KEYS.join(", ")})`);
    }
  }
  if (!Number.isInteger(req.pageSize) || req.pageSize < 0) throw new InvalidArgumentError(`invalid page size: ${req.pageSize}`);
  const q: ListQuery = { pageSize: Math.min(req.pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE) };
  const f = req.filters;
  if (f["status"] !== undefined) {
    const s = f["status"];
    if (!(PUBLIC_STATUSES as readonly string[]).includes(s)) {
      throw new InvalidArgumentError(`invalid filter 'status=${s}' (want one of ${PUBLIC_STATUSES.join(", ")})`);
    }
    q.statuses = domainStatusesOf(s as PublicStatus);
  } else if (!req.all) {
    q.statuses = ["running", "paused"];
  }
  if (f["name"]) q.name = f["name"].replace(/^\//, "");
  if (f["id"]) q.idPrefix = f["id"];
  if (f["host"]) q.host = f["host"];
  if (f["ipc-owner"]) q.ipcOwnerPrefix = f["ipc-owner"];
  if (req.pageToken !== "") q.after = decodePageToken(req.pageToken);
  return q;
}

const tokenSchema = z.strictObject({ c: z.string().datetime({ offset: true }), i: z.string().regex(/^[0-9a-f]{64}$/) });

/** An opaque token for "the page after this row". */
export function encodePageToken(key: PageKey): string {
  return Buffer.from(JSON.stringify({ c: key.createdAt, i: key.id })).toString("base64url");
}

/** InvalidArgumentError `invalid page token` for anything encodePageToken did not make. */
export function decodePageToken(token: string): PageKey {
  try {
    const o = tokenSchema.parse(JSON.parse(Buffer.from(token, "base64url").toString("utf8")));
    return { createdAt: o.c, id: o.i };
  } catch (err) {
    throw new InvalidArgumentError("invalid page token", { cause: err });
  }
}
