import { describe, expect, it } from "vitest";
import { renderMetrics } from "./metrics-server";

describe("renderMetrics", () => {
  it("renders RPC counts by service and method and the container gauge in Prometheus text", () => {
    const text = renderMetrics({ rpcs: { "Tasks/Create": 3, "Containers/Create": 2 }, containers: 4 });
    expect(text).toContain('shoal_containerd_rpcs_total{service="Containers",method="Create"} 2\n');
    expect(text).toContain('shoal_containerd_rpcs_total{service="Tasks",method="Create"} 3\n');
    expect(text).toContain("# TYPE shoal_containerd_rpcs_total counter\n");
    expect(text).toMatch(/\nshoal_agent_containers 4\n$/);
  });
});
