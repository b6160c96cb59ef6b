import { createServer } from "node:net";
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { openGrpcConnection } from "./grpc-connection";

describe("openGrpcConnection", () => {
  it("fails a call as unreachable when nothing listens", async () => {
    const connection = openGrpcConnection("127.0.0.1:1");
    const failure = await connection.unary("/shoal.v1.Containers/ListContainers", new Uint8Array()).catch((err: unknown) => err);
    connection.close();
    expect(failure).toMatchObject({ name: "DaemonError", code: "UNAVAILABLE", unreachable: true });
    expect((failure as Error).message).toContain("ECONNREFUSED");
  });

  it("fails a call as unreachable when the peer accepts but never speaks HTTP/2 (a hung api)", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const connection = openGrpcConnection(`127.0.0.1:${port}`, { connectTimeoutMs: 200 });
      const failure = await connection.unary("/shoal.v1.Containers/ListContainers", new Uint8Array()).catch((err: unknown) => err);
      connection.close();
      expect(failure).toMatchObject({ name: "DaemonError", code: "UNAVAILABLE", unreachable: true });
      expect((failure as Error).message).toContain("no HTTP/2 connection");
      expect(sockets.length).toBe(1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
