import { DAEMON_CONFIG_STREAM, configDecider } from "@shoal/config";
import type { ConfigState, DaemonConfig } from "@shoal/config";
import { foldStream, loadStream } from "@shoal/event-store";
import type { EventStore, KyselyOrTransaction, RecordedEvent } from "@shoal/event-store";
import type { SchedulerDatabase } from "./scheduler-database";

/** The daemon config in force: the `config-daemon` stream folded (the defaults when it is empty). */
export async function readDaemonConfig(store: EventStore, trx?: KyselyOrTransaction<SchedulerDatabase>): Promise<DaemonConfig> {
  return (await loadStream(store, DAEMON_CONFIG_STREAM, configDecider, trx)).state.config;
}

export interface DaemonConfigReader {
  /** The config in force at this read. */
  read(trx?: KyselyOrTransaction<SchedulerDatabase>): Promise<DaemonConfig>;
  /** Reads `streamIds` and the config in ONE query: their events, and the config in force at that read. */
  readWith(streamIds: readonly string[]): Promise<{ streams: Map<string, RecordedEvent[]>; config: DaemonConfig }>;
  /**
   * The config of `version` (read-copy-update: a start uses the snapshot it was requested
   * under), reading the stream only when that version is newer than what was read so far.
   * Undefined when the stream holds no such version.
   */
  at(version: number): Promise<DaemonConfig | undefined>;
}

/**
 * A reader that keeps the folded config and reads only the versions after it (a part of the
 * query that usually returns nothing).
 */
export function createDaemonConfigReader(store: EventStore): DaemonConfigReader {
  let state: ConfigState = configDecider.initialState();
  /** Every version folded so far (the config stream is a handful of small events). */
  const versions = new Map<number, DaemonConfig>([[state.version, state.config]]);
  const folded = () => ({ state, version: state.version });
  const foldNewer = (events: readonly RecordedEvent[]) => {
    // Another call may have folded further meanwhile: fold only what is newer than that.
    for (const e of events.filter((e) => e.streamVersion > state.version)) {
      state = foldStream(configDecider, [e], folded()).state;
      versions.set(state.version, state.config);
    }
  };
  const reader: DaemonConfigReader = {
    async read(trx) {
      foldNewer(await store.readStream(DAEMON_CONFIG_STREAM, { fromVersion: state.version + 1, ...(trx ? { trx } : {}) }));
      return state.config;
    },
    async readWith(streamIds) {
      const streams = await store.readStreams([
        ...streamIds.map((streamId) => ({ streamId })),
        { streamId: DAEMON_CONFIG_STREAM, fromVersion: state.version + 1 },
      ]);
      foldNewer(streams.get(DAEMON_CONFIG_STREAM) ?? []);
      return { streams, config: state.config };
    },
    async at(version) {
      if (version > state.version) await reader.read();
      return versions.get(version);
    },
  };
  return reader;
}
