/**
 * Prometheus metrics of the api, on their own registry; served on `/metrics`. Labels are
 * the RPC method and status code only, never container ids.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface ApiMetrics {
  registry: Registry;
  /** shoal_api_requests_total{method,code} */
  requests: Counter<"method" | "code">;
  /** shoal_api_request_duration_seconds{method} */
  requestDuration: Histogram<"method">;
  /** shoal_api_start_duration_seconds{outcome}: StartContainer from request to running or failed. */
  startDuration: Histogram<"outcome">;
}

/**
 * prom-client's default gauges whose names end in `_total`, which Prometheus reserves for
 * counters (`promtool check metrics` refuses them). Each is the sum of the per-type gauge of
 * the same name without `_total` (`nodejs_active_handles{type}` …), which stays registered.
 */
const TOTAL_GAUGES = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

export function createApiMetrics(): ApiMetrics {
  const registry = new Registry();
  const prefix = "shoal_api_";
  collectDefaultMetrics({ register: registry, prefix });
  for (const name of TOTAL_GAUGES) registry.removeSingleMetric(`${prefix}${name}`);
  const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  return {
    registry,
    requests: new Counter({
      name: "shoal_api_requests_total",
      help: "gRPC requests by method and status code",
      labelNames: ["method", "code"],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: "shoal_api_request_duration_seconds",
      help: "gRPC request handling time",
      labelNames: ["method"],
      buckets,
      registers: [registry],
    }),
    startDuration: new Histogram({
      name: "shoal_api_start_duration_seconds",
      help: "StartContainer from the request to the container running or its start failing",
      labelNames: ["outcome"],
      buckets,
      registers: [registry],
    }),
  };
}

