import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { RpcCounts } from "@shoal/containerd";

export interface MetricsSnapshot {
  /** containerd RPCs since the client connected, keyed `Service/Method`. */
  rpcs: RpcCounts;
  /** Containers the agent watches now. */
  containers: number;
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
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

/** Serves `GET /metrics` on 0.0.0.0:`port` (0: any free port); resolves once listening. */
export function startMetricsServer(port: number, snapshot: () => MetricsSnapshot): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url?.split("?")[0] === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(renderMetrics(snapshot()));
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}

function escape(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
