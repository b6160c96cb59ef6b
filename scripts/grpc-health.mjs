// Exits 0 when the gRPC server at ADDR answers grpc.health.v1.Health/Check for the whole
// server ("") with SERVING, 1 otherwise (printing why on stderr). Used by scripts/start.sh.
// Usage: node scripts/grpc-health.mjs [ADDR]   (default 127.0.0.1:7420)
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// The root package lists no gRPC library; the api's is the one the server uses.
const grpc = createRequire(join(root, "services/api/package.json"))("@grpc/grpc-js");
const addr = process.argv[2] ?? "127.0.0.1:7420";
const client = new grpc.Client(addr, grpc.credentials.createInsecure());
client.makeUnaryRequest(
  "/grpc.health.v1.Health/Check",
  () => Buffer.alloc(0), // HealthCheckRequest{service: ""}
  (b) => b,
  {},
  { deadline: Date.now() + 2_000 },
  (err, res) => {
    client.close();
    if (err) {
      console.error(`health check of ${addr}: ${err.details || err.message}`);
      process.exit(1);
    }
    // HealthCheckResponse{status = 1 (SERVING)} encodes as 08 01.
    const serving = res.length >= 2 && res[0] === 0x08 && res[1] === 0x01;
    if (!serving) console.error(`health check of ${addr}: not SERVING (${res.toString("hex")})`);
    process.exit(serving ? 0 : 1);
  },
);
