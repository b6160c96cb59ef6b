import { z } from "zod";
import { parsePayload } from "./parse-payload";

const id = z.string().regex(/^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/).max(76);
const absPath = z.string().startsWith("/");
/** A checkpoint's content digest. */
const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);

/** Credentials for one registry, as the CLI sends them. */
const registryAuth = z.object({ username: z.string(), password: z.string() });

const ipcPlan = z.discriminatedUnion("mode", [
  z.object({ mode: z.literal("none") }),
  z.object({ mode: z.literal("private"), shmSizeBytes: z.number().int().positive() }),
  z.object({ mode: z.literal("shareable"), shmSizeBytes: z.number().int().positive(), shmMountPath: absPath }),
  z.object({ mode: z.literal("host") }),
  z.object({
    mode: z.literal("container"),
    ownerId: id,
    ownerPid: z.number().int().positive(),
    shmSizeBytes: z.number().int().positive(),
    shmMountPath: absPath,
  }),
]);

const bindMount = z.object({
  source: absPath,
  destination: absPath,
  readonly: z.boolean().optional(),
  readonlyMode: z.enum(["non-recursive", "recursive"]).optional(),
  propagation: z.enum(["rprivate", "private", "rshared", "shared", "rslave", "slave"]).optional(),
});

/** The wire shapes of the agent's host commands. Add optional fields only. */
export const commandSchemas = {
  MountShm: z.object({ containerId: id, sizeBytes: z.number().int().positive() }),
  UnmountShm: z.object({ containerId: id }),
  StartContainer: z.object({
    containerId: id,
    /**
     * A host directory, or an image: `image` the reference as the user wrote it, `id` the
     * image the container was created from (its config digest), `digest` the repository
     * digest its reference resolved to then. A host that lacks the image pulls `image@digest`.
     */
    rootfs: z.union([
      z.object({ dir: absPath }),
      z.object({ image: z.string().min(1), id: digest.optional(), digest: digest.optional(), auth: registryAuth.optional() }),
    ]),
    /** `-u user[:group]`, names resolved in the container's own /etc/passwd and /etc/group. */
    user: z.string().min(1).optional(),
    /** The signal StopContainer sends first (the image's StopSignal); default SIGTERM. */
    stopSignal: z.string().min(1).max(32).optional(),
    args: z.array(z.string()).min(1),
    env: z.array(z.string()).optional(),
    cwd: absPath.optional(),
    ipcPlan,
    readonlyRootfs: z.boolean().optional(),
    mounts: z.array(bindMount).optional(),
    securityOpt: z.array(z.string()).optional(),
    privileged: z.boolean().optional(),
    /** Memory limit (cgroup); none by default. */
    memoryBytes: z.number().int().positive().optional(),
    /** CPU limit in nano-CPUs (a CFS quota over a 100 ms period); none by default. */
    nanoCpus: z.number().int().positive().optional(),
    /** `--stop-on-disconnect`: the agent stops the container once cut off from the control plane this long. */
    stopOnDisconnectMs: z.number().int().positive().optional(),
    /**
     * The placement's epoch (the stream version of its ContainerScheduled). A Reconcile that
     * fences names the epoch each container should run under; a copy with another is killed.
     */
    epoch: z.number().int().nonnegative().optional(),
    /** The same host config bits, nested as the control plane may send them; a top-level field wins. */
    hostConfig: z
      .object({
        readonlyRootfs: z.boolean().optional(),
        mounts: z.array(bindMount).optional(),
        securityOpt: z.array(z.string()).optional(),
        privileged: z.boolean().optional(),
        memoryBytes: z.number().int().positive().optional(),
      })
      .optional(),
    /** `path`: absolute, or a bare binary name the host finds on its own PATH (the built-in `runc`). */
    runtime: z.object({
      name: z.string().min(1),
      path: z.union([absPath, z.string().regex(/^[A-Za-z0-9._+-]+$/, "must be absolute or a bare binary name")]),
      args: z.array(z.string()).optional(),
    }),
    /** `allowed-rootfs-roots` of the start's config: the host checks the resolved rootfs against them. */
    allowedRootfsRoots: z.array(absPath).optional(),
    /** Makes the ContainerStartFailed report id unique per attempt; default: the time of the attempt. */
    attemptId: z.string().min(1).max(64).optional(),
    /**
     * Restore from this checkpoint instead of starting afresh (never a fresh start when it
     * cannot be restored). `replicated`: the control plane's replica store holds it, so a
     * host that does not store it fetches it from there.
     */
    restore: z.object({ name: z.string().min(1), digest, replicated: z.boolean(), ownerId: id.optional() }).optional(),
  }),
  /**
   * Checkpoints `containerIds` (dumped in that order; a group's owner first) into one
   * checkpoint stored under the host's state root by content digest. `shmOwnerId`: the
   * shareable owner whose shm tmpfs is saved with it. Answers the checkpoint's facts.
   */
  CheckpointContainers: z.object({
    name: z.string().min(1).max(128),
    containerIds: z.array(id).min(1),
    shmOwnerId: id.optional(),
    leaveRunning: z.boolean(),
  }),
  /** Copies a stored checkpoint to the control plane's replica store (idempotent). */
  ReplicateCheckpoint: z.object({ digest }),
  /** Removes a stored checkpoint (idempotent). */
  RemoveCheckpoint: z.object({ digest }),
  /**
   * Pulls `reference` (Docker's grammar; with `@sha256:` pinned to that digest) into the
   * host's containerd and unpacks it. `progressSubject`: where the host publishes Docker's
   * progress lines (core NATS, best effort). Answers the image (ImageSummary). Plain HTTP
   * only for loopback registries and `insecureRegistries`.
   */
  PullImage: z.object({
    reference: z.string().min(1).max(4096),
    auth: registryAuth.optional(),
    insecureRegistries: z.array(z.string().min(1)).optional(),
    progressSubject: z.string().min(1).optional(),
  }),
  /** The host's images (ImageSummary[]). */
  ListImages: z.object({}).passthrough().nullish(),
  /**
   * One image by reference, id or id prefix (ImageSummary); NotFoundError "No such image: <ref>".
   * With `allNames`, every name the image has here (a scan of all images), not only the one asked by.
   */
  InspectImage: z.object({ image: z.string().min(1).max(4096), allNames: z.boolean().optional() }),
  /**
   * `rmi` on this host (the control plane checked first that no container uses it): untags
   * `image` (a reference) or, for an id, every tag, and deletes the image once no tag is
   * left; containerd's garbage collector then frees what nothing else holds. Answers
   * ImageRemoval. `force` deletes an id's image even with several tags; `keepDangling` keeps
   * an image whose last name goes, nameless (Docker's dangling image a running container uses).
   */
  RemoveImage: z.object({ image: z.string().min(1).max(4096), force: z.boolean().optional(), keepDangling: z.boolean().optional() }),
  /**
   * `load`: the archive (docker save or OCI layout tar) waiting in the stack's image-archive
   * store as `object`. Answers `{ loaded: string[] }` in Docker's words.
   */
  LoadImage: z.object({ object: z.string().min(1).max(256) }),
  /** `save`: writes one archive of `images` into the image-archive store as `object`. */
  SaveImage: z.object({ images: z.array(z.string().min(1).max(4096)).min(1), object: z.string().min(1).max(256) }),
  /** Adds `target` (a reference) for the image `source` names. */
  TagImage: z.object({ source: z.string().min(1).max(4096), target: z.string().min(1).max(4096) }),
  StopContainer: z.object({ containerId: id, timeoutSeconds: z.number().min(0).optional() }),
  KillContainer: z.object({ containerId: id, signal: z.union([z.number().int().positive(), z.string().min(1)]).optional(), all: z.boolean().optional() }),
  PauseContainer: z.object({ containerId: id }),
  UnpauseContainer: z.object({ containerId: id }),
  ExecInContainer: z.object({
    containerId: id,
    args: z.array(z.string()).min(1),
    env: z.array(z.string()).optional(),
    cwd: absPath.optional(),
    timeoutMs: z.number().int().positive().optional(),
  }),
  ReadLogs: z.object({ containerId: id, tail: z.number().int().nonnegative().optional() }),
  /** `docker top`: ps's options as one string (split at spaces; empty: `-ef`). Answers `{titles, processes}`. */
  TopContainer: z.object({ containerId: id, psArgs: z.string().max(4096).optional() }),
  DeleteContainer: z.object({ containerId: id, force: z.boolean().optional() }),
  /**
   * `expected`: the containers the log places on this host (with their placement's epoch).
   * With `fence`, every other container of this host, and any under another epoch, is
   * killed and deleted first (a returning host's copies of containers placed elsewhere since).
   */
  Reconcile: z.object({
    expected: z.array(z.object({ containerId: id, epoch: z.number().int().nonnegative().optional() }).passthrough()),
    fence: z.boolean().optional(),
  }),
  ListContainers: z.object({}).passthrough().nullish(),
} as const;

export type CommandName = keyof typeof commandSchemas;
export type CommandPayload<C extends CommandName> = z.infer<(typeof commandSchemas)[C]>;

/** InvalidArgumentError `<Command>: <field>: <problem>` naming the first bad field. */
export function parseCommand<C extends CommandName>(name: C, payload: unknown): CommandPayload<C> {
  return parsePayload(commandSchemas[name], name, payload) as CommandPayload<C>;
}
