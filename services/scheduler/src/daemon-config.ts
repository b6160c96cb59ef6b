import { DAEMON_CONFIG_STREAM, configDecider } from "@shoal/config";
import type { ConfigEvent, DaemonConfig } from "@shoal/config";
import type { EventStore } from "@shoal/event-store";
import type { Kysely } from "kysely";

/** The daemon config in force: the `config-daemon` stream folded (the defaults when it is empty). */
export async function readDaemonConfig(store: EventStore, trx?: Kysely<any>): Promise<DaemonConfig> {
  const recorded = await store.readStream(DAEMON_CONFIG_STREAM, trx === undefined ? {} : { trx });
  let state = configDecider.initialState();
  for (const r of recorded) state = configDecider.evolve(state, { type: r.type, data: r.data } as ConfigEvent);
  return state.config;
}
