import type { RpcCounts } from "@shoal/containerd";

export interface MetricsSnapshot {
  /** containerd RPCs since the client connected, keyed `Service/Method`. */
  rpcs: RpcCounts;
  /** Containers the agent watches now. */
  containers: number;
}

/**
 * Prometheus text exposition of the agent's metrics. Pure. Labels carry only service
 * and method names, never container ids (unbounded cardinality).
 */
export function renderMetrics(m: MetricsSnapshot): string {
  const lines = [
    "# HELP shoal_containerd_rpcs_total containerd RPCs made by the agent.",
    "# TYPE shoal_containerd_rpcs_total counter",
  ];
  for (const [key, n] of Object.entries(m.rpcs).sort(([a], [b]) => a.localeCompare(b))) {
    const [service = key, method = ""] = key.split("/");
    lines.push(`shoal_containerd_rpcs_total{service="${escape(service)}",method="${escape(method)}"} ${n}`);
  }
  lines.push(
    "# HELP shoal_agent_containers Containers the agent is watching.",
    "# TYPE shoal_agent_containers gauge",
    `shoal_agent_containers ${m.containers}`,
  );
  return `${lines.join("\n")}\n`;
}
