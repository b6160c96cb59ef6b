/**
 * How my services report requests to the api's metrics without depending on its registry:
 * any object with these two (prom-client Counter / Histogram fit) is accepted.
 * Labels are the method (`Config/SetConfig`) and the status name, never ids.
 */
import { status } from "@grpc/grpc-js";
import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { isShoalError } from "@shoal/domain";
import { toServiceError } from "./grpc-error";

export interface RequestMetrics {
  requests: { inc(labels: { method: string; code: string }): void };
  requestDuration: { observe(labels: { method: string }, seconds: number): void };
}

/** Records one finished request (a stream counts when it ends). */
export function observeRequest(metrics: RequestMetrics | undefined, method: string, code: status, startedNs: bigint): void {
  if (metrics === undefined) return;
  metrics.requests.inc({ method, code: status[code] ?? String(code) });
  metrics.requestDuration.observe({ method }, Number(process.hrtime.bigint() - startedNs) / 1e9);
}

/**
 * A unary handler around `handle`: a ShoalError becomes its gRPC status; anything else is
 * INTERNAL "internal error" with the detail only in the log.
 */
export function unaryCall<Req, Res>(
  method: string,
  deps: { logger?: Logger | undefined; metrics?: RequestMetrics | undefined },
  handle: (req: Req) => Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    const started = process.hrtime.bigint();
    handle(call.request).then(
      (res) => {
        observeRequest(deps.metrics, method, status.OK, started);
        callback(null, res);
      },
      (err: unknown) => {
        if (!isShoalError(err) || err.code === "INTERNAL") deps.logger?.error({ err, method }, "request failed");
        const e = toServiceError(err);
        observeRequest(deps.metrics, method, e.code ?? status.INTERNAL, started);
        callback(e);
      },
    );
  };
}
