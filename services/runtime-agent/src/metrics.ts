/**
 * Prometheus metrics of the runtime agent, on their own prom-client registry; served on
 * `/metrics` by `serveMetrics`. Both are read at scrape time from what the agent already keeps.
 * Labels carry only containerd service and method names, never container ids (unbounded
 * cardinality).
 */
import type { RpcCounts } from "@shoal/containerd";
import { Counter, Gauge, Registry } from "prom-client";

export interface AgentMetricsSources {
  /** containerd RPCs since the client connected, keyed `Service/Method`; never decreasing. */
  rpcCounts(): RpcCounts;
  /** Containers the agent watches now. */
  containers(): number;
}

export interface AgentMetrics {
  readonly registry: Registry;
}

/** `shoal_containerd_rpcs_total{service,method}` and `shoal_agent_containers`. */
export function createAgentMetrics(sources: AgentMetricsSources): AgentMetrics {
  const registry = new Registry();
  new Counter({
    name: "shoal_containerd_rpcs_total",
    help: "containerd RPCs made by the agent, by containerd service and method.",
    labelNames: ["service", "method"] as const,
    registers: [registry],
    collect() {
      // The client keeps the running totals; the counter shows them as they are now.
      this.reset();
      for (const [key, n] of Object.entries(sources.rpcCounts())) {
        const slash = key.indexOf("/");
        const [service, method] = slash < 0 ? [key, ""] : [key.slice(0, slash), key.slice(slash + 1)];
        this.inc({ service, method }, n);
      }
    },
  });
  new Gauge({
    name: "shoal_agent_containers",
    help: "Containers the agent is watching.",
    registers: [registry],
    collect() {
      this.set(sources.containers());
    },
  });
  return { registry };
}
