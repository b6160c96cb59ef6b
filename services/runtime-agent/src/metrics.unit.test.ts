import { describe, expect, it } from "vitest";
import { createAgentMetrics } from "./metrics";

describe("createAgentMetrics", () => {
  it("shows the client's RPC totals by service and method, and the watched containers, as they are at each scrape", async () => {
    let rpcs: Record<string, number> = { "Tasks/Create": 3, "Containers/Create": 2 };
    let containers = 4;
    const { registry } = createAgentMetrics({ rpcCounts: () => rpcs, containers: () => containers });

    const first = await registry.metrics();
    expect(first).toContain("# TYPE shoal_containerd_rpcs_total counter\n");
    expect(first).toContain('shoal_containerd_rpcs_total{service="Containers",method="Create"} 2\n');
    expect(first).toContain('shoal_containerd_rpcs_total{service="Tasks",method="Create"} 3\n');
    expect(first).toContain("# TYPE shoal_agent_containers gauge\n");
    expect(first).toContain("\nshoal_agent_containers 4\n");

    rpcs = { "Tasks/Create": 5, "Containers/Create": 2, "Tasks/Delete": 1 };
    containers = 1;
    const second = await registry.metrics();
    expect(second).toContain('shoal_containerd_rpcs_total{service="Tasks",method="Create"} 5\n');
    expect(second).toContain('shoal_containerd_rpcs_total{service="Tasks",method="Delete"} 1\n');
    expect(second).toContain("\nshoal_agent_containers 1\n");
  });
});
