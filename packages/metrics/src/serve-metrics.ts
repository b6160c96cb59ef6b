import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { UnavailableError } from "@shoal/domain";

/** What `/metrics` serves: a prom-client `Registry` fits as it is. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (any query string) from `source` on `host:port`; every other request
 * is 404, a failing source is 500. Port 0 takes any free port; without `host` it listens on
 * all interfaces. Resolves once listening; UnavailableError when the port cannot be bound.
 */
export async function serveMetrics(source: MetricsSource, port: number, host?: string): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    source.metrics().then(
      (text) => res.writeHead(200, { "Content-Type": source.contentType }).end(text),
      () => res.writeHead(500).end("metrics unavailable\n"),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(new UnavailableError(`cannot serve metrics on ${host ?? "*"}:${port}`, { cause: err })));
    if (host === undefined) server.listen(port, () => resolve());
    else server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
