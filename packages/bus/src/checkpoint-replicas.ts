// Object stores of the stack. The control plane's replica store of checkpoints: a JetStream object store
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

/**
 * The stack's transfer store of image archives (`<prefix>-image-archives`): an archive a
 * `shoal load` sends on its way to a host, or one a host made for `shoal save`, one object
 * per transfer, deleted by whoever read it last.
 */
export type ImageArchives = ObjectStore;

const opened = new WeakMap<object, Map<string, Promise<ObjectStore>>>();

/**
 * The replica store of the stack under `prefix`, opened (and created when missing) once per
 * connection; a failed open is tried again by the next call.
 */
export function openCheckpointReplicas(nc: NatsConnection | JetStreamClient, prefix: string): Promise<CheckpointReplicas> {
  return openObjectStore(nc, prefix, "checkpoints", "Shoal checkpoint archives by digest");
}

/** The image-archive transfer store of the stack under `prefix`, opened as openCheckpointReplicas opens its store. */
export function openImageArchives(nc: NatsConnection | JetStreamClient, prefix: string): Promise<ImageArchives> {
  return openObjectStore(nc, prefix, "image-archives", "Shoal image archives in transfer (load, save)");
}

function openObjectStore(nc: NatsConnection | JetStreamClient, prefix: string, kind: string, description: string): Promise<ObjectStore> {
  assertSubjectPrefix(prefix);
  let byName = opened.get(nc);
  if (byName === undefined) opened.set(nc, (byName = new Map()));
  const name = `${prefix}-${kind}`;
  let store = byName.get(name);
  if (store === undefined) {
    const forName = byName;
    store = new Objm(nc).create(name, { description });
    forName.set(name, store);
    store.catch(() => forName.delete(name));
  }
  return store;
}
