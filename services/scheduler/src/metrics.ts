import type { Kysely } from "kysely";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { SchedulerDatabase } from "./scheduler-database";

export type SchedulerMetrics = {
  registry: Registry;
  /** `result`: `placed` or `unavailable`. */
  placements: Counter<"result">;
  /** Time to handle one ContainerStartRequested (read, plan, append), by result. */
  placementSeconds: Histogram<"result">;
};

/**
 * `shoal_scheduler_placements_total{result}`, `shoal_scheduler_placement_seconds{result}` and
 * `shoal_scheduler_hosts{status}` (read from `hosts` at scrape time).
 */
export function createSchedulerMetrics(db: Kysely<SchedulerDatabase>): SchedulerMetrics {
  const registry = new Registry();
  const placements = new Counter({
    name: "shoal_scheduler_placements_total",
    help: "Placement decisions for ContainerStartRequested, by result (placed, unavailable).",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const placementSeconds = new Histogram({
    name: "shoal_scheduler_placement_seconds",
    help: "Time to handle one ContainerStartRequested: read, plan and append.",
    labelNames: ["result"] as const,
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  placements.inc({ result: "placed" }, 0);
  placements.inc({ result: "unavailable" }, 0);
  new Gauge({
    name: "shoal_scheduler_hosts",
    help: "Registered hosts by status (ready, lost).",
    labelNames: ["status"] as const,
    registers: [registry],
    async collect() {
      const rows = await db
        .selectFrom("hosts")
        .select((eb) => ["status", eb.fn.countAll<string>().as("n")])
        .groupBy("status")
        .execute();
      const counts: Record<string, number> = { ready: 0, lost: 0 };
      for (const row of rows) counts[row.status] = Number(row.n);
      for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
    },
  });
  return { registry, placements, placementSeconds };
}

