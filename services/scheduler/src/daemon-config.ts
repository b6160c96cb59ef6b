import { DAEMON_CONFIG_STREAM, configDecider } from "@shoal/config";
import type { ConfigEvent, ConfigState, DaemonConfig } from "@shoal/config";
import type { EventStore } from "@shoal/event-store";
import type { Kysely } from "kysely";

/** The daemon config in force: the `config-daemon` stream folded (the defaults when it is empty). */
export async function readDaemonConfig(store: EventStore, trx?: Kysely<any>): Promise<DaemonConfig> {
  return (await foldFrom(store, configDecider.initialState(), trx)).config;
}

/**
 * A reader that keeps the folded config and reads only the versions after it (one query
 * that usually returns nothing). Each call returns the config in force at that read.
 */
export function createDaemonConfigReader(store: EventStore): (trx?: Kysely<any>) => Promise<DaemonConfig> {
  let state = configDecider.initialState();
  return async (trx) => {
    state = await foldFrom(store, state, trx);
    return state.config;
  };
}

async function foldFrom(store: EventStore, from: ConfigState, trx?: Kysely<any>): Promise<ConfigState> {
  const recorded = await store.readStream(DAEMON_CONFIG_STREAM, { fromVersion: from.version + 1, ...(trx === undefined ? {} : { trx }) });
  let state = from;
  for (const r of recorded) state = configDecider.evolve(state, { type: r.type, data: r.data } as ConfigEvent);
  return state;
}
