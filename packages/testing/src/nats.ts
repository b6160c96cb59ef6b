import { randomBytes } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";

/** A connection to the test NATS server with a subject prefix no other run uses. */
export interface TestNats {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Random single-token prefix (`t<hex>`): use it for every subject and stream. */
  prefix: string;
  /** Deletes every stream named `<PREFIX>_…` and closes the connection. Idempotent. */
  cleanup(): Promise<void>;
}

/**
 * Connects to `opts.url`, else `SHOAL_NATS_URL` (default `nats://127.0.0.1:4222`), and checks that
 * JetStream is enabled. Throws an Error naming the missing prerequisite (NATS not
 * answering, JetStream disabled) so a test fails with a reason instead of hanging
 * or being skipped.
 */
export async function connectTestNats(opts: { url?: string } = {}): Promise<TestNats> {
  const url = opts.url ?? process.env.SHOAL_NATS_URL ?? "nats://127.0.0.1:4222";
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: url, timeout: 5_000, maxReconnectAttempts: 0, name: "shoal-test" });
  } catch (err) {
    throw new Error(
      `prerequisite missing: NATS server is not answering at ${url} (set SHOAL_NATS_URL or start nats-server -js)`,
      { cause: err },
    );
  }
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc, { timeout: 5_000 });
  } catch (err) {
    await nc.close();
    throw new Error(`prerequisite missing: JetStream is not enabled on the NATS server at ${url} (start it with -js)`, {
      cause: err,
    });
  }
  const js = jetstream(nc, { timeout: 5_000 });
  const prefix = `t${randomBytes(6).toString("hex")}`;
  const streamPrefix = `${prefix.toUpperCase()}_`;
  let cleaned = false;
  return {
    nc,
    js,
    jsm,
    prefix,
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      try {
        const names: string[] = [];
        for await (const info of jsm.streams.list()) {
          if (info.config.name.startsWith(streamPrefix)) names.push(info.config.name);
        }
        for (const name of names) await jsm.streams.delete(name);
      } finally {
        await nc.close();
      }
    },
  };
}
