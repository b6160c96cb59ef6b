import type { Readable } from "node:stream";
import type { Mount } from "./containerd-client";

// What an image pull, unpack, run, remove and save need of containerd: its content store,
// image records, snapshots, the layer applier and leases. All in the client's containerd
// namespace; every failure is a `@shoal/domain` error whose `cause` is the gRPC error.
//
// Garbage collection (containerd's, not Shoal's) decides what survives. Roots are: image
// records (their target digest and their labels' references), leases that have not expired
// (everything created under them), container records (their snapshot), and content or
// snapshots labelled `containerd.io/gc.root`. From a root, containerd follows the labels
//   containerd.io/gc.ref.content.<anything>        = <digest>   (content → content)
//   containerd.io/gc.ref.snapshot.<snapshotter>    = <key>      (content → snapshot)
// and each snapshot's parent. Anything not reachable goes at the next collection. In 1.6
// one is scheduled right after any deletion (of content, a snapshot, an image, a lease; in
// any namespace), spaced so collecting takes at most 2% of the time, and `sync: true` runs
// one before answering. So nothing is safe unreferenced even for a moment: a pull writes
// and unpacks under a lease, labels what it wrote, creates the image record, and only then
// deletes the lease; a container's snapshot has a lease, a container record or a gc.root label.

/** An OCI descriptor: a blob of the content store by digest, size and media type. */
export interface Descriptor {
  mediaType: string;
  /** `sha256:<64 hex>`. */
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** A committed blob. */
export interface ContentInfo {
  digest: string;
  size: number;
  labels: Record<string, string>;
  createdAt?: Date;
  updatedAt?: Date;
}

/** An ingest: a write begun under `ref` and neither committed nor aborted. */
export interface WriteStatus {
  ref: string;
  /** Bytes containerd holds so far; a resumed write continues from here. */
  offset: number;
  /** Expected size, when the writer gave one. */
  total: number;
  /** Expected digest, when the writer gave one (empty otherwise). */
  expected: string;
  startedAt?: Date;
  updatedAt?: Date;
}

/**
 * The bytes of a blob from `offset` to its end. `write` calls it once, with the offset
 * containerd already holds for the ref (0 for a fresh write), and never when containerd
 * holds the whole blob. A Readable or any async iterable of byte chunks will do.
 */
export type BlobSource = (offset: number) => AsyncIterable<Uint8Array> | Readable;

export interface WriteOptions {
  /** Labels of the committed blob (e.g. gc references). Set only if this write commits it. */
  labels?: Record<string, string>;
  /** Lease the ingest and the committed blob are kept by (see LeaseManager). */
  lease?: string;
}

export interface WriteResult {
  /**
   * "committed": this call committed the blob. "already-present": the digest was already
   * committed in the namespace (or was committed concurrently): nothing was written and
   * `labels` were not applied, but under a lease the blob is now held by it too.
   */
  outcome: "committed" | "already-present";
  /** Bytes containerd held for the ref before this call (a resumed write skips them). */
  resumedFrom: number;
}

export interface ContentStore {
  /** Content.Info. NotFoundError when the digest is not committed in the namespace. */
  info(digest: string): Promise<ContentInfo>;

  /**
   * Content.Write: writes one blob under `ref` and commits it as `expected`; containerd
   * checks size and digest at the commit.
   *
   * Resumable: the call first asks containerd what it holds for `ref` (an ingest left by a
   * write that failed or crashed, even in an earlier process) and passes that offset to
   * `source`, which must produce the blob's bytes from there. So a caller retries by
   * calling `write` again with the same ref and a source that can start anywhere (a file
   * at a position, an HTTP range request). A `ref` names one blob: use one derived from
   * the digest (e.g. `layer-<digest>`).
   *
   * - The digest already committed: resolves "already-present" without calling `source`.
   * - containerd already holds all `expected.size` bytes (the blob exists in another
   *   containerd namespace, or a crash came between the last byte and the commit):
   *   commits without calling `source`.
   * - `source` fails (throws, errors): the bytes containerd received stay in the ingest for
   *   a resumed write; rejects with that error.
   * - Size or digest differ at the commit: the ingest is aborted (nothing is left) and it
   *   rejects with FailedPreconditionError.
   * - Another write of the same ref in progress (containerd locks a ref while a write stream
   *   is open, e.g. a concurrent pull of the same layer): waits for it, up to 2 minutes,
   *   then goes on as above (typically "already-present"); UnavailableError after that.
   *
   * Without a lease, a committed blob that nothing references goes at the next garbage
   * collection; an ingest without a lease is aborted by containerd after 24 h.
   */
  write(ref: string, expected: Descriptor, source: BlobSource, opts?: WriteOptions): Promise<WriteResult>;

  /**
   * Content.Read: the blob's bytes from `offset` (default 0) to its end, as a byte stream.
   * NotFoundError (from the stream) when the digest is not committed. Destroying the
   * stream early cancels the call.
   */
  read(digest: string, opts?: { offset?: number }): Readable;

  /**
   * Content.Update of labels (gc references, for instance). By default merges: each key of
   * `labels` is set, others are kept. `fieldpaths` replaces that: `["labels"]` replaces the
   * whole label set; `labels.<key>` of a key absent from `labels` removes it. Returns the
   * updated info. NotFoundError when the digest is not committed.
   */
  update(digest: string, labels: Record<string, string>, opts?: { fieldpaths?: string[] }): Promise<ContentInfo>;

  /**
   * Content.Delete: removes the blob from the namespace at once, whatever references it
   * (prefer leaving it to garbage collection). NotFoundError when absent.
   */
  delete(digest: string): Promise<void>;

  /** Content.ListStatuses: the ingests of the namespace (writes begun, not committed or aborted). */
  listStatuses(): Promise<WriteStatus[]>;

  /** Content.Abort: removes the ingest of `ref` and its bytes. NotFoundError when there is none. */
  abort(ref: string): Promise<void>;
}

/** containerd's image record: a name and the root descriptor (manifest or index) it points at. */
export interface ImageRecord {
  name: string;
  target: Descriptor;
  labels: Record<string, string>;
  createdAt?: Date;
  updatedAt?: Date;
}

export interface NewImageRecord {
  name: string;
  target: Descriptor;
  labels?: Record<string, string>;
}

export interface ImageStore {
  /** Images.Get. NotFoundError when no image has this name. */
  get(name: string): Promise<ImageRecord>;
  /** Images.List; `filters` use containerd's filter syntax (any may match, e.g. `name==x`), none returns all. */
  list(filters?: string[]): Promise<ImageRecord[]>;
  /**
   * Images.Create. The target is not checked: create the record once its content is
   * written and labelled. AlreadyExistsError when the name is taken.
   */
  create(image: NewImageRecord): Promise<ImageRecord>;
  /**
   * Images.Update. Without `fieldpaths`, target and labels are both replaced by the given
   * ones; with them, only those paths change (`target`, `labels`, `labels.<key>`).
   * NotFoundError when no image has this name.
   */
  update(image: NewImageRecord, opts?: { fieldpaths?: string[] }): Promise<ImageRecord>;
  /**
   * Create-or-replace (a tag, a re-tag, a re-pull): Images.Create, and Images.Update of
   * target and labels when the name is taken. 1 or 2 RPCs.
   */
  put(image: NewImageRecord): Promise<ImageRecord>;
  /**
   * Images.Delete. With `sync`, resolves only after containerd's garbage collection ran, so
   * content and snapshots only this image kept are gone. NotFoundError when absent.
   */
  delete(name: string, opts?: { sync?: boolean }): Promise<void>;
}

export type SnapshotKind = "view" | "active" | "committed" | "unknown";

export interface SnapshotInfo {
  /** The key of an active or view snapshot, the name of a committed one. */
  name: string;
  /** The committed snapshot this one is based on; "" for a base layer. */
  parent: string;
  kind: SnapshotKind;
  labels: Record<string, string>;
  createdAt?: Date;
  updatedAt?: Date;
}

export interface SnapshotOptions {
  labels?: Record<string, string>;
  /** Lease the snapshot is kept by. */
  lease?: string;
}

/**
 * One snapshotter's snapshots (e.g. "overlayfs"). Keys and names share one space per
 * snapshotter. A snapshot nothing references (no lease, no container record naming it,
 * no `containerd.io/gc.root` label, no content label `containerd.io/gc.ref.snapshot.<snapshotter>`
 * leading to it or to a child) goes at the next garbage collection, views and active
 * snapshots included: prepare and view under a lease or with a label.
 */
export interface Snapshotter {
  readonly snapshotter: string;
  /**
   * Snapshots.Prepare: a writable snapshot `key` on top of committed `parent` ("" for an
   * empty one); returns the mounts that assemble it (mounting them is the caller's or
   * Tasks.Create's). AlreadyExistsError when `key` is taken; NotFoundError when `parent`
   * is not a committed snapshot.
   */
  prepare(key: string, parent: string, opts?: SnapshotOptions): Promise<Mount[]>;
  /** Snapshots.View: as `prepare`, read-only (and cheap: no upper directory). */
  view(key: string, parent: string, opts?: SnapshotOptions): Promise<Mount[]>;
  /** Snapshots.Mounts: the mounts of an active or view snapshot. NotFoundError for an unknown key. */
  mounts(key: string): Promise<Mount[]>;
  /**
   * Snapshots.Commit: the active snapshot `key` becomes committed snapshot `name` (and
   * `key` is gone). AlreadyExistsError when `name` exists (an unpack of the same layer
   * won: remove `key` and use `name`); NotFoundError for an unknown key;
   * FailedPreconditionError when `key` is not active.
   */
  commit(name: string, key: string, opts?: SnapshotOptions): Promise<void>;
  /**
   * Snapshots.Remove of an active, view or committed snapshot. NotFoundError when absent;
   * FailedPreconditionError for a committed snapshot that still has children.
   */
  remove(key: string): Promise<void>;
  /** Snapshots.Stat. NotFoundError when absent. */
  stat(key: string): Promise<SnapshotInfo>;
  /** Snapshots.List; `filters` in containerd's syntax (e.g. `parent==<name>`, `labels."k"==v`). */
  list(filters?: string[]): Promise<SnapshotInfo[]>;
}

export interface DiffService {
  /**
   * Diff.Apply with containerd's default applier: unpacks the committed layer blob `layer`
   * (tar, optionally gzip'd; OCI or Docker layer media types) onto the filesystem the
   * `mounts` assemble (an active snapshot's), applying whiteouts (`.wh.<name>` removes a
   * lower file, `.wh..wh..opq` hides a lower directory's content). Returns the uncompressed
   * layer's descriptor: its digest is the layer's diff ID. No deadline (a large layer takes
   * long). NotFoundError when the blob is not committed; a media type containerd cannot
   * apply is NotFoundError or InvalidArgumentError ("unsupported").
   */
  apply(layer: Descriptor, mounts: Mount[], opts?: { lease?: string }): Promise<Descriptor>;
}

export interface Lease {
  id: string;
  labels: Record<string, string>;
  createdAt?: Date;
}

/** What a lease holds: `content` (a digest), `ingests` (a write ref), `snapshots/<snapshotter>` (a key). */
export interface LeaseResource {
  type: string;
  id: string;
}

export interface LeaseManager {
  /**
   * Leases.Create. `id` defaults to a random one. `expiresAt` sets the label
   * `containerd.io/gc.expire` (whole seconds): the first garbage collection after it removes
   * the lease itself and what only it held. AlreadyExistsError when the id is taken.
   */
  create(opts?: { id?: string; labels?: Record<string, string>; expiresAt?: Date }): Promise<Lease>;
  /**
   * Leases.Delete: what only this lease held goes at the next garbage collection; with
   * `sync`, resolves after it ran. NotFoundError when absent.
   */
  delete(id: string, opts?: { sync?: boolean }): Promise<void>;
  /** Leases.List; `filters` in containerd's syntax (e.g. `labels."k"==v`). */
  list(filters?: string[]): Promise<Lease[]>;
  /** Leases.AddResource: lets the lease hold something created without it. */
  addResource(id: string, resource: LeaseResource): Promise<void>;
  /** Leases.DeleteResource. */
  deleteResource(id: string, resource: LeaseResource): Promise<void>;
  /** Leases.ListResources. */
  listResources(id: string): Promise<LeaseResource[]>;
}
