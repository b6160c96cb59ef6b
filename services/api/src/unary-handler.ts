/**
 * The one wrapper every unary RPC of the api goes through: runs the handler, converts a
 * ShoalError to its gRPC status (anything else: INTERNAL "internal error", detail logged
 * only), and counts the request and its duration.
 */
import type { handleUnaryCall, sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import type { ApiContext } from "./api-context";
import { statusName, toGrpcStatus } from "./grpc-errors";

export function unaryHandler(
  ctx: Pick<ApiContext, "logger" | "metrics">,
  method: string,
  handle: (request: unknown, signal: AbortSignal) => Promise<object>,
): handleUnaryCall<unknown, object> {
  return (call: ServerUnaryCall<unknown, object>, callback: sendUnaryData<object>) => {
    const began = process.hrtime.bigint();
    const abort = new AbortController();
    call.on("cancelled", () => abort.abort());
    const finish = (code: status) => {
      ctx.metrics.requests.inc({ method, code: statusName(code) });
      ctx.metrics.requestDuration.observe({ method }, Number(process.hrtime.bigint() - began) / 1e9);
    };
    handle(call.request, abort.signal).then(
      (response) => {
        finish(status.OK);
        callback(null, response);
      },
      (err: unknown) => {
        const s = toGrpcStatus(err);
        if (s.internal) ctx.logger.error({ err, method }, "request failed unexpectedly");
        else ctx.logger.debug({ method, code: statusName(s.code), details: s.details }, "request refused");
        finish(s.code);
        callback({ code: s.code, details: s.details, name: statusName(s.code), message: s.details });
      },
    );
  };
}
