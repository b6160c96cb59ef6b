export { serveMetrics } from "./serve-metrics";
export type { MetricsServer, MetricsSource } from "./serve-metrics";
