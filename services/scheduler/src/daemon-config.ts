import { DAEMON_CONFIG_STREAM, configDecider } from "@shoal/config";
import type { ConfigState, DaemonConfig } from "@shoal/config";
import { foldStream, loadStream } from "@shoal/event-store";
import type { EventStore, RecordedEvent } from "@shoal/event-store";
import type { Kysely } from "kysely";

/** The daemon config in force: the `config-daemon` stream folded (the defaults when it is empty). */
export async function readDaemonConfig(store: EventStore, trx?: Kysely<any>): Promise<DaemonConfig> {
  return (await loadStream(store, DAEMON_CONFIG_STREAM, configDecider, trx)).state.config;
}

export interface DaemonConfigReader {
  /** The config in force at this read. */
  read(trx?: Kysely<any>): Promise<DaemonConfig>;
  /** Reads `streamIds` and the config in ONE query: their events, and the config in force at that read. */
  readWith(streamIds: readonly string[]): Promise<{ streams: Map<string, RecordedEvent[]>; config: DaemonConfig }>;
}

/**
 * A reader that keeps the folded config and reads only the versions after it (a part of the
 * query that usually returns nothing).
 */
export function createDaemonConfigReader(store: EventStore): DaemonConfigReader {
  let state: ConfigState = configDecider.initialState();
  const folded = () => ({ state, version: state.version });
  return {
    async read(trx) {
      state = (await loadStream(store, DAEMON_CONFIG_STREAM, configDecider, trx, folded())).state;
      return state.config;
    },
    async readWith(streamIds) {
      const streams = await store.readStreams([
        ...streamIds.map((streamId) => ({ streamId })),
        { streamId: DAEMON_CONFIG_STREAM, fromVersion: state.version + 1 },
      ]);
      // Another call may have folded further meanwhile: fold only what is newer than that.
      const newer = (streams.get(DAEMON_CONFIG_STREAM) ?? []).filter((e) => e.streamVersion > state.version);
      state = foldStream(configDecider, newer, folded()).state;
      return { streams, config: state.config };
    },
  };
}
