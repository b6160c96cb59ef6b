/**
 * For the scheduler's int tests: what it runs against (a fresh database, NATS with Shoal's
 * streams under a fresh prefix, a store and the outbox relay), and agents' reports as an
 * agent publishes them. Not used in production.
 */
import type { HostCapabilities } from "@shoal/domain";
import { createJetStreamEventPublisher, ensureStreams, publishHostReport } from "@shoal/bus";
import { createEventStore, createOutboxRelay } from "@shoal/event-store";
import type { EventStore, OutboxRelay } from "@shoal/event-store";
import { connectTestNats, createTestDatabase } from "@shoal/testing";
import type { TestDatabase, TestNats } from "@shoal/testing";

export interface SchedulerTestInfra {
  database: TestDatabase;
  nats: TestNats;
  store: EventStore;
  relay: OutboxRelay;
  /** Stops the relay, removes the streams and drops the database. */
  close(): Promise<void>;
}

export async function startSchedulerTestInfra(): Promise<SchedulerTestInfra> {
  const database = await createTestDatabase();
  const nats = await connectTestNats();
  await ensureStreams(nats.jsm, nats.prefix);
  const store = createEventStore({ db: database.db });
  const relay = createOutboxRelay({ pool: database.pool, publisher: createJetStreamEventPublisher(nats.js, { prefix: nats.prefix }) });
  await relay.start();
  return {
    database,
    nats,
    store,
    relay,
    async close() {
      await relay.stop();
      await nats.cleanup();
      await database.drop();
    },
  };
}

/** Capabilities as a real agent reports them, for a host with nothing special. */
const PLAIN_HOST: HostCapabilities = {
  kernelVersion: "6.1.0",
  cgroupVersion: "v2",
  runtimes: [{ name: "runc", path: "/usr/sbin/runc", rro: { supported: true } }],
  apparmor: { enabled: false },
  criu: { available: false, reason: "not installed" },
  stateRoot: "/var/lib/shoal",
};

/**
 * A HostRegistered report for `host`, as its agent publishes one at start: a plain host's
 * capabilities with `capabilities` over them (extra keys such as `memoryBytes` are kept, as
 * older agents sent it), and `capacity` as the report's own `memoryBytes` and `nanoCpus`.
 */
export async function publishRegistration(
  nats: TestNats,
  host: string,
  capabilities: Record<string, unknown>,
  capacity: { memoryBytes?: number; nanoCpus?: number } = {},
): Promise<void> {
  const startedAt = new Date().toISOString();
  await publishHostReport(nats.js, {
    prefix: nats.prefix,
    host,
    type: "HostRegistered",
    reportId: `${host}.registered.${Date.parse(startedAt)}`,
    payload: { host, capabilities: { ...PLAIN_HOST, ...capabilities }, startedAt, ...capacity },
  });
}
