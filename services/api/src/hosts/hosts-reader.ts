/**
 * Reads hosts for `ListHosts` from the scheduler's projection tables (migrations
 * 0200-scheduler-hosts, 0201-scheduler-placements): `hosts` (one row per registered
 * host) and `placements` (the containers holding a reservation on a host). The api only
 * reads them; the scheduler keeps them.
 */
import { sql } from "kysely";
import type { Kysely } from "kysely";
import { InternalError, UnavailableError } from "@shoal/domain";

/** One host as ListHosts reports it. */
export interface HostView {
  name: string;
  status: "ready" | "lost";
  /** Null until the first heartbeat after the registration in force. */
  lastHeartbeat: Date | null;
  /** As the agent reported it at registration (kernel, cgroup, runtimes, rro, AppArmor, CRIU…). */
  capabilities: unknown;
  memoryBytes: bigint;
  /** Memory reserved by the containers placed on the host, their shm included. */
  memoryReservedBytes: bigint;
  /** Containers holding a reservation on the host. */
  containers: number;
}

export interface HostsReader {
  /**
   * Every known host, lost ones included, ordered by name. UnavailableError when
   * Postgres is not reachable or the scheduler's tables are not there yet.
   */
  listHosts(): Promise<HostView[]>;
}

export function createPostgresHostsReader(db: Kysely<any>): HostsReader {
  return {
    async listHosts() {
      let rows;
      try {
        rows = await sql<{
          name: string;
          status: "ready" | "lost";
          last_heartbeat: Date | null;
          capabilities: unknown;
          memory_bytes: string;
          reserved_bytes: string;
          containers: number;
        }>`
          SELECT h.name, h.status, h.last_heartbeat, h.capabilities,
                 h.memory_bytes::text AS memory_bytes,
                 COALESCE(p.reserved_bytes, 0)::text AS reserved_bytes,
                 COALESCE(p.containers, 0)::int AS containers
          FROM hosts h
          LEFT JOIN (
            SELECT host, sum(reserved_bytes) AS reserved_bytes, count(*) AS containers
            FROM placements GROUP BY host
          ) p ON p.host = h.name
          ORDER BY h.name`.execute(db);
      } catch (err) {
        throw translate(err);
      }
      return rows.rows.map((r) => ({
        name: r.name,
        status: r.status,
        lastHeartbeat: r.last_heartbeat,
        capabilities: r.capabilities,
        memoryBytes: BigInt(r.memory_bytes),
        memoryReservedBytes: BigInt(r.reserved_bytes),
        containers: r.containers,
      }));
    },
  };
}

function translate(err: unknown): Error {
  const code = (err as { code?: unknown }).code;
  if (code === "42P01" || code === "42703") {
    return new UnavailableError("the scheduler's hosts tables are not there yet (run the migrations)", { cause: err });
  }
  if (typeof code === "string" && /^(08|57P0[123]|53)/.test(code)) {
    return new UnavailableError("could not reach Postgres to list hosts", { cause: err });
  }
  if (err instanceof Error && /ECONNREFUSED|ETIMEDOUT|Connection terminated/i.test(err.message)) {
    return new UnavailableError("could not reach Postgres to list hosts", { cause: err });
  }
  return new InternalError("listing hosts failed", { cause: err });
}
