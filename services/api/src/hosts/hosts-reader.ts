/**
 * Reads hosts for `ListHosts` from the api's own hosts projection (`api_hosts`,
 * `api_placements`, migrations 0102, 0103 and 0105; see hosts-projection.ts), caught up first so a caller
 * sees what the log holds at the call.
 */
import type { Kysely } from "kysely";
import { InternalError, UnavailableError, isShoalError } from "@shoal/domain";
import type { ProjectionRunner } from "@shoal/event-store";
import type { ApiDatabase } from "../api-database";

/** One host as ListHosts reports it. */
export interface HostView {
  name: string;
  status: "ready" | "lost";
  /** `shoal host drain` in force (ListHosts shows a ready host that drains as `draining`). */
  draining: boolean;
  /** Null until the first heartbeat after the registration in force. */
  lastHeartbeat: Date | null;
  /** As the agent reported it at registration (kernel, cgroup, runtimes, rro, AppArmor, CRIU…). */
  capabilities: unknown;
  memoryBytes: bigint;
  /** Memory reserved by the containers placed on the host, their shm included. */
  memoryReservedBytes: bigint;
  /** CPUs the host offers, in nano-CPUs; null when its registration reported none (CPUs do not limit it). */
  nanoCpus: bigint | null;
  /** CPUs (`--cpus`) reserved by the containers placed on the host, in nano-CPUs. */
  nanoCpusReserved: bigint;
  /** Containers holding a reservation on the host. */
  containers: number;
}

export interface HostsReader {
  /**
   * Every known host, lost ones included, ordered by name, after the hosts projection has
   * caught up with the log. UnavailableError when Postgres is not reachable or the api's
   * hosts tables are not there yet.
   */
  listHosts(): Promise<HostView[]>;
}

export function createPostgresHostsReader(deps: {
  db: Kysely<ApiDatabase>;
  /** The `api-hosts` projection (hosts-projection.ts). */
  projection: Pick<ProjectionRunner, "catchUp">;
}): HostsReader {
  const { db } = deps;
  return {
    async listHosts() {
      let rows;
      try {
        await deps.projection.catchUp();
        const placed = db
          .selectFrom("api_placements")
          .select((eb) => [
            "host",
            eb.fn.sum<string>("reserved_bytes").as("reserved_bytes"),
            eb.fn.sum<string>("reserved_nano_cpus").as("reserved_nano_cpus"),
            eb.fn.countAll<string>().as("containers"),
          ])
          .groupBy("host")
          .as("p");
        rows = await db
          .selectFrom("api_hosts as h")
          .leftJoin(placed, "p.host", "h.name")
          .select([
            "h.name",
            "h.status",
            "h.draining",
            "h.last_heartbeat",
            "h.capabilities",
            "h.memory_bytes",
            "h.nano_cpus",
            "p.reserved_bytes",
            "p.reserved_nano_cpus",
            "p.containers",
          ])
          .orderBy("h.name")
          .execute();
      } catch (err) {
        throw translate(err);
      }
      return rows.map((r) => ({
        name: r.name,
        status: r.status,
        draining: r.draining,
        lastHeartbeat: r.last_heartbeat,
        capabilities: r.capabilities,
        memoryBytes: BigInt(r.memory_bytes),
        memoryReservedBytes: BigInt(r.reserved_bytes ?? 0),
        nanoCpus: r.nano_cpus === null ? null : BigInt(r.nano_cpus),
        nanoCpusReserved: BigInt(r.reserved_nano_cpus ?? 0),
        containers: Number(r.containers ?? 0),
      }));
    },
  };
}

function translate(err: unknown): Error {
  if (isShoalError(err)) return err;
  const code = (err as { code?: unknown }).code;
  if (code === "42P01" || code === "42703") {
    return new UnavailableError("the api's hosts tables are not there yet (run the migrations)", { cause: err });
  }
  if (typeof code === "string" && /^(08|57P0[123]|53)/.test(code)) {
    return new UnavailableError("could not reach Postgres to list hosts", { cause: err });
  }
  if (err instanceof Error && /ECONNREFUSED|ETIMEDOUT|Connection terminated/i.test(err.message)) {
    return new UnavailableError("could not reach Postgres to list hosts", { cause: err });
  }
  return new InternalError("listing hosts failed", { cause: err });
}
