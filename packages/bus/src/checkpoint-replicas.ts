// The control plane's replica store of checkpoints: a JetStream object store
// (`<prefix>-checkpoints`), one object per checkpoint archive named by its digest's hex. A
// checkpoint in it can be restored on any host, also once the host that made it is lost, and
// is what export reads and import writes. Objects are chunked by the store, so archives far
// larger than a NATS message travel.
import { Objm } from "@nats-io/obj";
import type { ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/nats-core";
import type { JetStreamClient } from "@nats-io/jetstream";
import { assertSubjectPrefix } from "./subjects";

export type CheckpointReplicas = ObjectStore;

const opened = new WeakMap<object, Map<string, Promise<CheckpointReplicas>>>();

/**
 * The replica store of the stack under `prefix`, opened (and created when missing) once per
 * connection; a failed open is tried again by the next call.
 */
export function openCheckpointReplicas(nc: NatsConnection | JetStreamClient, prefix: string): Promise<CheckpointReplicas> {
  assertSubjectPrefix(prefix);
  let byPrefix = opened.get(nc);
  if (byPrefix === undefined) opened.set(nc, (byPrefix = new Map()));
  let store = byPrefix.get(prefix);
  if (store === undefined) {
    const forPrefix = byPrefix;
    store = new Objm(nc).create(`${prefix}-checkpoints`, { description: "Shoal checkpoint archives by digest" });
    forPrefix.set(prefix, store);
    store.catch(() => forPrefix.delete(prefix));
  }
  return store;
}
