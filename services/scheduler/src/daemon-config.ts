import { DAEMON_CONFIG_STREAM, configDecider } from "@shoal/config";
import type { ConfigState, DaemonConfig } from "@shoal/config";
import { loadStream } from "@shoal/event-store";
import type { EventStore } from "@shoal/event-store";
import type { Kysely } from "kysely";

/** The daemon config in force: the `config-daemon` stream folded (the defaults when it is empty). */
export async function readDaemonConfig(store: EventStore, trx?: Kysely<any>): Promise<DaemonConfig> {
  return (await loadStream(store, DAEMON_CONFIG_STREAM, configDecider, trx)).state.config;
}

/**
 * A reader that keeps the folded config and reads only the versions after it (one query
 * that usually returns nothing). Each call returns the config in force at that read.
 */
export function createDaemonConfigReader(store: EventStore): (trx?: Kysely<any>) => Promise<DaemonConfig> {
  let state: ConfigState = configDecider.initialState();
  return async (trx) => {
    state = (await loadStream(store, DAEMON_CONFIG_STREAM, configDecider, trx, { state, version: state.version })).state;
    return state.config;
  };
}
