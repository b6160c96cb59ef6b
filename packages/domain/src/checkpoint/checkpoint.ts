/**
 * Checkpoints (README "Checkpoint and restore"): names, the preflight that follows the IPC
 * table (DESIGN.md), the compatibility of a checkpoint with a host, and the checkpoint
 * aggregate's events (stream `checkpoint-<container id>-<name>`). Pure.
 */
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../errors";
import type { ResolvedIpcMode } from "../ipc-mode";
import { parseContainerId } from "../container-id";

/** Docker's pattern for a checkpoint name (its RestrictedNamePattern). */
const CHECKPOINT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The name as given; InvalidArgumentError with Docker's words otherwise. */
export function parseCheckpointName(name: string): string {
  if (!CHECKPOINT_NAME.test(name) || name.length > 128) {
    throw new InvalidArgumentError(`Invalid checkpoint ID (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name;
}

/** `checkpoint-<container id>-<name>`: the checkpoint `name` of a container (a group's: of its owner). */
export function checkpointStreamId(containerId: string, name: string): string {
  return `checkpoint-${parseContainerId(containerId)}-${parseCheckpointName(name)}`;
}

/** Docker's answer to a checkpoint command on a daemon without experimental features. */
export function experimentalRefusal(command: string): FailedPreconditionError {
  return new FailedPreconditionError(`shoal checkpoint ${command} is only supported on a Shoal daemon with experimental features enabled`);
}

// ---- preflight ----------------------------------------------------------------------

/** One container as the preflight sees it. */
export type PreflightContainer = {
  id: string;
  name: string;
  /** Its IPC mode with the daemon default applied. */
  ipcMode: ResolvedIpcMode;
  status: string;
};

export type PreflightInput = {
  /** The container named on the command line. */
  target: PreflightContainer;
  /** `--group`. */
  group: boolean;
  /** For a member: its owner. */
  owner?: PreflightContainer;
  /** The running members of the target when it is a shareable owner. */
  liveMembers: readonly PreflightContainer[];
};

/** What a checkpoint that passed the preflight holds: the owner (or the one container) first. */
export type CheckpointPlan = {
  /** The IPC mode of the target, which names how its shm is saved. */
  mode: "private" | "none" | "shareable";
  /** The container whose `/dev/shm` tmpfs Shoal saves (a shareable owner), else absent. */
  shmOwnerId?: string;
  /** The containers dumped: the target (a group's owner) first, then the members. */
  containerIds: string[];
  /** Whether this is a group checkpoint (it restores the whole group). */
  group: boolean;
};

/**
 * The DESIGN.md IPC table's checkpoint column: FailedPreconditionError with a hint for each
 * refusal, else the plan. Refusals: not running ("Container x not running", Docker's), paused,
 * `host` IPC, a member alone, a shareable owner with live members and no `--group`, and
 * `--group` on a container that owns no group.
 */
export function checkpointPreflight(input: PreflightInput): CheckpointPlan {
  const t = input.target;
  if (t.status === "paused") throw new FailedPreconditionError(`container ${t.name} is paused, unpause the container before checkpointing it`);
  if (t.status !== "running") throw new FailedPreconditionError(`Container ${t.name} not running`);
  switch (t.ipcMode.kind) {
    case "host":
      throw new FailedPreconditionError(
        `cannot checkpoint container ${t.name}: it uses the host's IPC namespace (--ipc host), whose state is outside the container (hint: run it with --ipc private or shareable)`,
      );
    case "container": {
      const owner = input.owner?.name ?? t.ipcMode.ref;
      throw new FailedPreconditionError(
        `cannot checkpoint container ${t.name} alone: it shares the IPC namespace of ${owner} (hint: checkpoint the group: --group ${owner})`,
      );
    }
    case "private":
    case "none":
      if (input.group) throw notAnOwner(t);
      return { mode: t.ipcMode.kind, containerIds: [t.id], group: false };
    case "shareable": {
      const members = input.liveMembers.filter((m) => m.status === "running" || m.status === "paused");
      const paused = members.find((m) => m.status === "paused");
      if (input.group && paused !== undefined) {
        throw new FailedPreconditionError(`container ${paused.name} of the group is paused, unpause it before checkpointing the group`);
      }
      if (members.length > 0 && !input.group) {
        throw new FailedPreconditionError(
          `cannot checkpoint container ${t.name} alone: ${members.map((m) => m.name).join(", ")} ${members.length === 1 ? "shares" : "share"} its IPC namespace (hint: checkpoint the group: --group ${t.name})`,
        );
      }
      return { mode: "shareable", shmOwnerId: t.id, containerIds: [t.id, ...members.map((m) => m.id)], group: input.group };
    }
  }
}

function notAnOwner(t: PreflightContainer): FailedPreconditionError {
  return new FailedPreconditionError(`--group needs the owner of an IPC group: container ${t.name} is not shareable (--ipc ${t.ipcMode.kind})`);
}

// ---- compatibility ------------------------------------------------------------------

/** What a host offers a restore; recorded with every checkpoint as where it was made. */
export type CheckpointHostFacts = {
  criuVersion: string;
  /** `uname -r`. */
  kernel: string;
  /** The CPU's feature flags (`/proc/cpuinfo`). */
  cpuFlags: string[];
  arch: string;
};

/** Compares dotted versions numerically; a non-number part counts as 0. */
function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Why a checkpoint made on `made` cannot be restored on `here`, or undefined when it can:
 * the same architecture, a CRIU at least as new, a kernel of at least the same major.minor,
 * and every CPU feature the dump may rely on. Each difference is named.
 */
export function checkpointIncompatibility(made: CheckpointHostFacts, here: CheckpointHostFacts, hostName: string): string | undefined {
  const problems: string[] = [];
  if (made.arch !== here.arch) problems.push(`architecture ${made.arch} ≠ ${here.arch}`);
  if (compareVersions(here.criuVersion, made.criuVersion) < 0) problems.push(`CRIU ${here.criuVersion} is older than the checkpoint's ${made.criuVersion}`);
  const majorMinor = (k: string) => k.split(".").slice(0, 2).join(".");
  if (compareVersions(majorMinor(here.kernel), majorMinor(made.kernel)) < 0) {
    problems.push(`kernel ${here.kernel} is older than the checkpoint's ${made.kernel}`);
  }
  const have = new Set(here.cpuFlags);
  const missing = made.cpuFlags.filter((f) => !have.has(f));
  if (missing.length > 0) problems.push(`CPU features missing here: ${missing.slice(0, 8).join(" ")}${missing.length > 8 ? ` (+${missing.length - 8} more)` : ""}`);
  return problems.length === 0 ? undefined : `checkpoint cannot be restored on host ${hostName}: ${problems.join("; ")}`;
}

// ---- the checkpoint aggregate -------------------------------------------------------

/** What every record of a checkpoint says about it (ContainerCheckpointed, CheckpointCreated, CheckpointImported). */
export type CheckpointFacts = {
  /** The container it belongs to (a group's owner). */
  containerId: string;
  name: string;
  /** `sha256:<hex>` of the checkpoint's content. */
  digest: string;
  sizeBytes: number;
  mode: CheckpointPlan["mode"];
  /** A group checkpoint: its members, in dump order. */
  group?: { ownerId: string; memberIds: string[] };
  /** The host it was made on (and where it is stored). */
  host: string;
  made: CheckpointHostFacts;
  /** Whether the shm tmpfs contents were saved with it. */
  shmSaved: boolean;
  leaveRunning: boolean;
  createdAt: string;
};

export type CheckpointCreated = { type: "CheckpointCreated"; data: CheckpointFacts };
/** Brought in from an archive (`checkpoint import`), stored in the control plane's replica store. */
export type CheckpointImported = { type: "CheckpointImported"; data: CheckpointFacts & { importedAt: string } };
/** Copied to the control plane's replica store: restorable on any host, also once its own is lost. */
export type CheckpointReplicated = { type: "CheckpointReplicated"; data: { containerId: string; name: string; digest: string; replicatedAt: string } };
export type CheckpointRemoved = { type: "CheckpointRemoved"; data: { containerId: string; name: string; digest: string; removedAt: string } };

export type CheckpointEvent = CheckpointCreated | CheckpointImported | CheckpointReplicated | CheckpointRemoved;

export const CHECKPOINT_EVENT_SCHEMA_VERSIONS: Readonly<Record<CheckpointEvent["type"], number>> = {
  CheckpointCreated: 1,
  CheckpointImported: 1,
  CheckpointReplicated: 1,
  CheckpointRemoved: 1,
};

export function isCheckpointEventType(type: string): type is CheckpointEvent["type"] {
  return Object.hasOwn(CHECKPOINT_EVENT_SCHEMA_VERSIONS, type);
}

/** A checkpoint as its stream folds: absent (never made, or removed) or present. */
export type CheckpointState = { present: false } | { present: true; facts: CheckpointFacts; replicated: boolean };

export function foldCheckpoint(events: readonly CheckpointEvent[]): CheckpointState {
  let s: CheckpointState = { present: false };
  for (const e of events) {
    switch (e.type) {
      case "CheckpointCreated":
        s = { present: true, facts: e.data, replicated: false };
        break;
      case "CheckpointImported": {
        const { importedAt: _, ...facts } = e.data;
        s = { present: true, facts, replicated: true };
        break;
      }
      case "CheckpointReplicated":
        if (s.present && s.facts.digest === e.data.digest) s = { present: true, facts: s.facts, replicated: true };
        break;
      case "CheckpointRemoved":
        s = { present: false };
        break;
    }
  }
  return s;
}

/** Docker's refusal of a name a container's checkpoint already has. */
export function checkpointExists(name: string, container: string): AlreadyExistsError {
  return new AlreadyExistsError(`cannot checkpoint container ${container}: checkpoint with name ${name} already exists for container ${container}`);
}

/** Docker's answer for a checkpoint a container does not have (its start names the container `/name`, its rm `name`). */
export function noSuchCheckpoint(name: string, container: string): NotFoundError {
  return new NotFoundError(`checkpoint ${name} does not exist for container ${container}`);
}

/** What a start restores from: the checkpoint as the api found it, carried to the host. */
export type RestoreFrom = {
  name: string;
  digest: string;
  /** The host that stores it. */
  host: string;
  /** Whether the control plane's replica store holds it (then any host can fetch it). */
  replicated: boolean;
  /** For a member of a group checkpoint: the group's owner (the checkpoint is the owner's). */
  ownerId?: string;
};
