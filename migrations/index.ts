import type { Migration } from "kysely";
import * as events0001 from "./0001-events";
import * as outbox0002 from "./0002-outbox";
import * as projectionCheckpoints0003 from "./0003-projection-checkpoints";
import * as processedEvents0004 from "./0004-processed-events";
import * as appendFunction0005 from "./0005-append-function";
import * as eventsReleaseOrderKey0006 from "./0006-events-release-order-key";
import * as outboxPerAppend0007 from "./0007-outbox-per-append";
import * as appendReturnsOutboxRow0008 from "./0008-append-returns-outbox-row";
import * as appendToStreams0009 from "./0009-append-to-streams";
import * as apiContainers0100 from "./0100-api-containers";
import * as apiRemovedContainerOutput0101 from "./0101-api-removed-container-output";
import * as apiHosts0102 from "./0102-api-hosts";
import * as apiHostsCpus0103 from "./0103-api-hosts-cpus";
import * as apiContainerRestarts0104 from "./0104-api-container-restarts";
import * as apiHostDrain0105 from "./0105-api-host-drain";
import * as apiCheckpoints0106 from "./0106-api-checkpoints";
import * as apiContainerRunConfig0107 from "./0107-api-container-run-config";
import * as schedulerHosts0200 from "./0200-scheduler-hosts";
import * as schedulerPlacements0201 from "./0201-scheduler-placements";
import * as schedulerCpus0202 from "./0202-scheduler-cpus";
import * as schedulerHostDrain0203 from "./0203-scheduler-host-drain";
import * as mountManagerIpcGroups0300 from "./0300-mount-manager-ipc-groups";

/**
 * Every schema migration, keyed by name; kysely's Migrator applies them in key order.
 * A static record (no directory scan) so the migrations bundle with the code that runs them.
 * Add new migrations with the next number; never edit one that has shipped.
 */
export const migrations: Record<string, Migration> = {
  "0001-events": events0001,
  "0002-outbox": outbox0002,
  "0003-projection-checkpoints": projectionCheckpoints0003,
  "0004-processed-events": processedEvents0004,
  "0005-append-function": appendFunction0005,
  "0006-events-release-order-key": eventsReleaseOrderKey0006,
  "0007-outbox-per-append": outboxPerAppend0007,
  "0008-append-returns-outbox-row": appendReturnsOutboxRow0008,
  "0009-append-to-streams": appendToStreams0009,
  "0100-api-containers": apiContainers0100,
  "0101-api-removed-container-output": apiRemovedContainerOutput0101,
  "0102-api-hosts": apiHosts0102,
  "0103-api-hosts-cpus": apiHostsCpus0103,
  "0104-api-container-restarts": apiContainerRestarts0104,
  "0105-api-host-drain": apiHostDrain0105,
  "0106-api-checkpoints": apiCheckpoints0106,
  "0107-api-container-run-config": apiContainerRunConfig0107,
  "0200-scheduler-hosts": schedulerHosts0200,
  "0201-scheduler-placements": schedulerPlacements0201,
  "0202-scheduler-cpus": schedulerCpus0202,
  "0203-scheduler-host-drain": schedulerHostDrain0203,
  "0300-mount-manager-ipc-groups": mountManagerIpcGroups0300,
};
