import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DeciderSpecification } from "../testing";
import { containerDecider, evolve } from "./decider";
import { initialState, isRunning, isStartInProgress } from "./state";
import type { IpcJoinTarget } from "../ipc-join";
import type { ContainerCommand } from "./commands";
import type { ContainerEvent } from "./events";
import type { IpcPlan } from "../ipc-mode";
import type { HostConfig } from "../host-config";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  ShoalError,
} from "../errors";

const spec = DeciderSpecification.for(containerDecider);

const ID = "c0ffee".padEnd(64, "0");
const OTHER_ID = "beef".padEnd(64, "1");
const T0 = "2025-01-01T00:00:00.000Z";
const T1 = "2025-01-01T00:00:01.000Z";
const T2 = "2025-01-01T00:00:02.000Z";
const RUNTIME = { name: "runc", path: "/usr/sbin/runc", args: [] };
const PLAN: IpcPlan = { mode: "private", shmSizeBytes: 64 * 1024 * 1024 };

const HOST_CONFIG: HostConfig = {
  ipcMode: { kind: "default" },
  autoRemove: false,
  securityOpt: [],
  readonlyRootfs: false,
  mounts: [],
  privileged: false,
};

// ---- events -------------------------------------------------------------------------
const created = (hostConfig: Partial<HostConfig> = {}): ContainerEvent => ({
  type: "ContainerCreated",
  data: {
    containerId: ID,
    name: "web",
    hostConfig: { ...HOST_CONFIG, ...hostConfig },
    source: { kind: "rootfs", path: "/srv/rootfs" },
    args: ["/bin/sh", "-c", "sleep 1"],
    env: ["A=1"],
    createdAt: T0,
  },
});
const startRequested = (fromCheckpoint?: string): ContainerEvent => ({
  type: "ContainerStartRequested",
  data: { containerId: ID, requestedAt: T1, ...(fromCheckpoint ? { fromCheckpoint } : {}) },
});
const scheduled: ContainerEvent = { type: "ContainerScheduled", data: { containerId: ID, host: "h1", scheduledAt: T1 } };
const ipcPrepared: ContainerEvent = { type: "ContainerIpcPrepared", data: { containerId: ID, plan: PLAN, preparedAt: T1 } };
const started: ContainerEvent = {
  type: "ContainerStarted",
  data: { containerId: ID, pid: 4242, ipcNamespaceInode: 4026532000, runtime: RUNTIME, configVersion: 3, startedAt: T1 },
};
const startFailed: ContainerEvent = {
  type: "ContainerStartFailed",
  data: { containerId: ID, reason: "exec: \"nope\": executable file not found in $PATH", exitCode: 127, failedAt: T2 },
};
const exited: ContainerEvent = { type: "ContainerExited", data: { containerId: ID, exitCode: 0, exitedAt: T2, oomKilled: false } };
const paused: ContainerEvent = { type: "ContainerPaused", data: { containerId: ID, pausedAt: T2 } };
const unpaused: ContainerEvent = { type: "ContainerUnpaused", data: { containerId: ID, unpausedAt: T2 } };
const ALWAYS = { name: "always" as const, maximumRetryCount: 0 };
const restartPlanned = (restartCount = 1, delayMs = 100, exitedAt = T2): ContainerEvent => ({
  type: "ContainerRestartPlanned",
  data: { containerId: ID, restartCount, delayMs, dueAt: new Date(Date.parse(exitedAt) + delayMs).toISOString(), plannedAt: exitedAt },
});
const removalRequested = (stopFirst: boolean, requestedAt = T2): ContainerEvent => ({
  type: "ContainerRemovalRequested",
  data: { containerId: ID, stopFirst, requestedAt },
});
const removed: ContainerEvent = { type: "ContainerRemoved", data: { containerId: ID, removedAt: T2 } };
const died: ContainerEvent = { type: "ContainerDied", data: { containerId: ID, reason: "removal failed", diedAt: T2 } };

// ---- histories, one per status ------------------------------------------------------
const H = {
  absent: [] as ContainerEvent[],
  created: [created()],
  starting: [created(), startRequested()],
  scheduled: [created(), startRequested(), scheduled],
  "ipc-prepared": [created(), startRequested(), scheduled, ipcPrepared],
  running: [created(), startRequested(), scheduled, ipcPrepared, started],
  paused: [created(), startRequested(), scheduled, ipcPrepared, started, paused],
  exited: [created(), startRequested(), scheduled, ipcPrepared, started, exited],
  restarting: [created({ restartPolicy: ALWAYS }), startRequested(), scheduled, ipcPrepared, started, exited, restartPlanned()],
  lost: [created(), startRequested(), scheduled, ipcPrepared, started, { type: "ContainerLost", data: { containerId: ID, host: "h1", reason: "host h1 lost", lostAt: T2 } } as ContainerEvent],
  "start-failed": [created(), startRequested(), startFailed],
  removing: [created(), removalRequested(false)],
  removed: [created(), removalRequested(false), removed],
  dead: [created(), removalRequested(false), died],
} satisfies Record<string, ContainerEvent[]>;
type Status = keyof typeof H;

// ---- commands -----------------------------------------------------------------------
const create = (over: Partial<Extract<ContainerCommand, { type: "CreateContainer" }>["data"]> = {}): ContainerCommand => ({
  type: "CreateContainer",
  data: {
    containerId: ID,
    name: "web",
    hostConfig: {},
    source: { kind: "rootfs", path: "/srv/rootfs" },
    args: ["/bin/sh", "-c", "sleep 1"],
    env: ["A=1"],
    createdAt: T0,
    ...over,
  },
});
const start = (over: { fromCheckpoint?: string; experimental?: boolean; ipcOwner?: IpcJoinTarget; configVersion?: number } = {}): ContainerCommand => ({
  type: "StartContainer",
  data: { containerId: ID, now: T1, experimental: false, ...over },
});
const recordScheduled: ContainerCommand = { type: "RecordScheduled", data: { containerId: ID, now: T1, host: "h1" } };
const recordIpcPrepared: ContainerCommand = { type: "RecordIpcPrepared", data: { containerId: ID, now: T1, plan: PLAN } };
const recordStarted: ContainerCommand = {
  type: "RecordStarted",
  data: { containerId: ID, now: T1, pid: 4242, ipcNamespaceInode: 4026532000, runtime: RUNTIME, configVersion: 3 },
};
const recordStartFailed: ContainerCommand = {
  type: "RecordStartFailed",
  data: { containerId: ID, now: T2, reason: "exec: \"nope\": executable file not found in $PATH", exitCode: 127 },
};
const recordExited: ContainerCommand = { type: "RecordExited", data: { containerId: ID, exitCode: 0, exitedAt: T2 } };
const stop: ContainerCommand = { type: "StopContainer", data: { containerId: ID, now: T2, timeoutSeconds: 10 } };
const kill = (signal: string | number = "KILL"): ContainerCommand => ({ type: "KillContainer", data: { containerId: ID, now: T2, signal } });
const pause: ContainerCommand = { type: "PauseContainer", data: { containerId: ID, now: T2 } };
const unpause: ContainerCommand = { type: "UnpauseContainer", data: { containerId: ID, now: T2 } };
const rename = (newName: string): ContainerCommand => ({ type: "RenameContainer", data: { containerId: ID, now: T2, newName } });
const remove = (force = false): ContainerCommand => ({ type: "RemoveContainer", data: { containerId: ID, now: T2, force } });
const recordRemoved: ContainerCommand = { type: "RecordRemoved", data: { containerId: ID, now: T2 } };
const checkpoint = (leaveRunning = false): ContainerCommand => ({ type: "CheckpointContainer", data: { containerId: ID, now: T2, checkpoint: "cp1", leaveRunning } });
const recordDead: ContainerCommand = { type: "RecordDead", data: { containerId: ID, now: T2, reason: "removal failed" } };

const NO_SUCH = `No such container: ${ID}`;

describe("CreateContainer", () => {
  it("creates with a parsed host config and a stored name without /", () => {
    spec
      .given([])
      .when(create({ name: "/web", hostConfig: { ipcMode: "shareable", shmSize: "128m", autoRemove: true } }))
      .then([created({ ipcMode: { kind: "shareable" }, shmSize: 128 * 1024 * 1024, autoRemove: true })]);
  });

  it("creates from an image with no command (the image's default)", () => {
    spec
      .given([])
      .when(create({ source: { kind: "image", ref: "docker.io/library/busybox:latest" }, args: [], env: [] }))
      .then([
        {
          type: "ContainerCreated",
          data: {
            containerId: ID,
            name: "web",
            hostConfig: HOST_CONFIG,
            source: { kind: "image", ref: "docker.io/library/busybox:latest" },
            args: [],
            env: [],
            createdAt: T0,
          },
        },
      ]);
  });

  it.each(Object.keys(H).filter((s) => s !== "absent") as Status[])("on an existing stream (%s) → AlreadyExistsError", (status) => {
    spec.given(H[status]).when(create()).thenThrows(AlreadyExistsError, `container ${ID} already exists`);
  });

  it.each<[string, Parameters<typeof create>[0], string]>([
    ["a bad id", { containerId: "abc" }, "invalid container id: abc"],
    ["an uppercase id", { containerId: ID.toUpperCase() }, `invalid container id: ${ID.toUpperCase()}`],
    ["a bad name", { name: "-web" }, "Invalid container name (-web), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"],
    ["an empty name", { name: "" }, "Invalid container name (), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"],
    ["a bad IPC mode", { hostConfig: { ipcMode: "container:" } }, "invalid host config: ipcMode: invalid IPC mode: container:"],
    [
      "a size on a member",
      { hostConfig: { ipcMode: "container:db", shmSize: "1m" } },
      "invalid host config: shmSize: shm size cannot be set for a container that joins another's IPC namespace (container:db)",
    ],
    ["an unknown host config key", { hostConfig: { ipc: "host" } as never }, "invalid host config: ipc: unknown field"],
    [
      "joining itself by name",
      { hostConfig: { ipcMode: "container:web" } },
      "invalid IPC mode: a container cannot join its own IPC namespace (container:web)",
    ],
    [
      "joining itself by id",
      { hostConfig: { ipcMode: `container:${ID}` } },
      `invalid IPC mode: a container cannot join its own IPC namespace (container:${ID})`,
    ],
    ["a relative rootfs", { source: { kind: "rootfs", path: "rootfs" } }, "invalid rootfs: rootfs (want an absolute path)"],
    ["an empty image ref", { source: { kind: "image", ref: "" } }, "invalid image reference: "],
    ["no source", { source: undefined as never }, "a container needs a rootfs directory or an image"],
    ["a rootfs without a command", { args: [] }, "no command specified"],
    ["a non-string arg", { args: ["/bin/sh", 1 as never] }, "args must be a list of strings"],
    ["an env entry without =", { env: ["A"] }, "invalid environment variable: A (want KEY=VALUE)"],
    ["an env entry without a key", { env: ["=1"] }, "invalid environment variable: =1 (want KEY=VALUE)"],
    ["a bad time", { createdAt: "yesterday" }, "invalid createdAt: yesterday (want an ISO-8601 time)"],
  ])("refuses %s → InvalidArgumentError", (_, over, message) => {
    spec.given([]).when(create(over)).thenThrows(InvalidArgumentError, message);
  });
});

describe("StartContainer of a container:<ref> member: Docker's join rule, at start", () => {
  const OWNER = "0ca7".padEnd(64, "2");
  const member = [created({ ipcMode: { kind: "container", ref: "db" } })];
  const owner = (over: Partial<IpcJoinTarget> = {}): IpcJoinTarget => ({ containerId: OWNER, running: true, shareable: true, ...over });

  it("a running shareable owner → ContainerStartRequested carrying the owner's id", () => {
    spec
      .given(member)
      .when(start({ ipcOwner: owner() }))
      .then([{ type: "ContainerStartRequested", data: { containerId: ID, requestedAt: T1, ipcOwnerId: OWNER } }]);
  });

  it.each<[string, IpcJoinTarget | undefined, typeof ShoalError, string]>([
    ["no such owner", undefined, NotFoundError, "No such container: db"],
    ["an owner not running", owner({ running: false }), FailedPreconditionError, "container db is not running"],
    ["a non-shareable owner", owner({ shareable: false }), FailedPreconditionError, "non-shareable IPC (hint: start db with --ipc shareable)"],
    ["itself", owner({ containerId: ID }), FailedPreconditionError, "container db cannot join its own IPC namespace"],
  ])("%s → refused, nothing appended", (_, target, errorClass, message) => {
    spec
      .given(member)
      .when(start(target === undefined ? {} : { ipcOwner: target }))
      .thenThrows(errorClass, message);
  });

  it("a member already running is not checked again", () => {
    spec.given([...member, startRequested(), scheduled, ipcPrepared, started]).when(start()).thenNothingHappened();
  });

  it("a container that joins nobody ignores an owner given", () => {
    spec.given(H.created).when(start({ ipcOwner: owner() })).then([startRequested()]);
  });
});

describe("the config snapshot of a start (read-copy-update)", () => {
  it("the request records the version it was decided under, and ContainerStarted records that one, not the recorder's", () => {
    const requested: ContainerEvent = { type: "ContainerStartRequested", data: { containerId: ID, requestedAt: T1, configVersion: 2 } };
    spec.given(H.created).when(start({ configVersion: 2 })).then([requested]);
    const history = [created(), requested, scheduled, ipcPrepared];
    // The recorder's own config moved on to version 3 meanwhile.
    spec.given(history).when(recordStarted).then([{ ...started, data: { ...(started.data as object), configVersion: 2 } } as ContainerEvent]);
    expect(fold(history)).toMatchObject({ status: "ipc-prepared", configVersion: 2 });
  });

  it("a start requested without a version records the recorder's", () => {
    spec.given(H["ipc-prepared"]).when(recordStarted).then([started]);
  });
});

describe("RenameContainer", () => {
  it("→ ContainerRenamed; the state carries the new name", () => {
    spec.given(H.running).when(rename("/web2")).then([
      { type: "ContainerRenamed", data: { containerId: ID, oldName: "web", newName: "web2", renamedAt: T2 } },
    ]);
    const state = fold([...H.running, { type: "ContainerRenamed", data: { containerId: ID, oldName: "web", newName: "web2", renamedAt: T2 } }]);
    expect(state).toMatchObject({ status: "running", container: { name: "web2" } });
  });

  it.each<[string, typeof ShoalError, string]>([
    ["web", InvalidArgumentError, "Renaming a container with the same name as its current name"],
    ["z", InvalidArgumentError, "Invalid container name (/z), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"],
    ["-web", InvalidArgumentError, "Invalid container name (/-web), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"],
  ])("to %j → refused as Docker refuses it", (name, errorClass, message) => {
    spec.given(H.created).when(rename(name)).thenThrows(errorClass, message);
  });
});

describe("StartContainer", () => {
  it.each<Status>(["created", "exited", "start-failed"])("from %s → ContainerStartRequested", (status) => {
    spec.given(H[status]).when(start()).then([startRequested()]);
  });

  it("from a checkpoint with experimental on → NOT_FOUND: no checkpoint exists yet, and a checkpoint start never starts fresh", () => {
    for (const status of ["created", "exited", "start-failed"] as const) {
      spec.given(H[status]).when(start({ fromCheckpoint: "cp1", experimental: true })).thenThrows(NotFoundError, "checkpoint cp1 does not exist for container /web");
    }
  });

  it("from a checkpoint the api found → a start request that carries it (and the start's --host)", () => {
    const restore = { name: "cp1", digest: `sha256:${"a".repeat(64)}`, host: "h1", replicated: false };
    for (const status of ["created", "exited"] as const) {
      spec
        .given(H[status])
        .when({ type: "StartContainer", data: { containerId: ID, now: T1, experimental: true, fromCheckpoint: "cp1", checkpoint: restore, host: "h2" } })
        .then([{ type: "ContainerStartRequested", data: { containerId: ID, requestedAt: T1, fromCheckpoint: "cp1", restore, host: "h2" } }]);
    }
    // A checkpoint of another name is not the one asked for.
    spec
      .given(H.exited)
      .when({ type: "StartContainer", data: { containerId: ID, now: T1, experimental: true, fromCheckpoint: "cp2", checkpoint: restore } })
      .thenThrows(NotFoundError, "checkpoint cp2 does not exist for container /web");
  });

  it("an empty checkpoint name is no checkpoint", () => {
    spec.given(H.created).when(start({ fromCheckpoint: "" })).then([startRequested()]);
  });

  it.each<Status>(["created", "absent", "running"])("from a checkpoint with experimental off (%s) → FailedPrecondition", (status) => {
    spec
      .given(H[status])
      .when(start({ fromCheckpoint: "cp1", experimental: false }))
      .thenThrows(FailedPreconditionError, "checkpoint restore is only supported with experimental mode enabled");
  });

  it("already running → no events; isRunning tells the api to answer 'already running'", () => {
    spec.given(H.running).when(start()).thenNothingHappened();
    expect(isRunning(fold(H.running))).toBe(true);
  });

  it.each<Status>(["starting", "scheduled", "ipc-prepared"])("start in progress (%s) → no events; isStartInProgress", (status) => {
    spec.given(H[status]).when(start()).thenNothingHappened();
    expect(isStartInProgress(fold(H[status]))).toBe(true);
    expect(isRunning(fold(H[status]))).toBe(false);
  });

  it.each<[Status, typeof ShoalError, string]>([
    ["paused", FailedPreconditionError, "cannot start a paused container, try unpause instead"],
    ["removing", FailedPreconditionError, "container web is marked for removal and cannot be started"],
    ["dead", FailedPreconditionError, "container web is marked as dead and cannot be started"],
    ["absent", NotFoundError, NO_SUCH],
    ["removed", NotFoundError, NO_SUCH],
  ])("from %s → refused", (status, errorClass, message) => {
    spec.given(H[status]).when(start()).thenThrows(errorClass, message);
  });

  it("a command for another container's stream is a bug", () => {
    spec
      .given(H.created)
      .when({ type: "StartContainer", data: { containerId: OTHER_ID, now: T1, experimental: false } })
      .thenThrows(InternalError, `command for container ${OTHER_ID} sent to the stream of ${ID}`);
  });

  it("a bad time is refused", () => {
    spec
      .given(H.created)
      .when({ type: "StartContainer", data: { containerId: ID, now: "", experimental: false } })
      .thenThrows(InvalidArgumentError, "invalid now:  (want an ISO-8601 time)");
  });
});

describe("the start pipeline", () => {
  it("scheduled only while starting", () => {
    spec.given(H.starting).when(recordScheduled).then([scheduled]);
    for (const status of ["created", "scheduled", "ipc-prepared", "running", "paused", "exited", "start-failed", "dead"] as const) {
      spec
        .given(H[status])
        .when(recordScheduled)
        .thenThrows(FailedPreconditionError, `container web is not waiting to be scheduled (status ${status})`);
    }
  });

  it("IPC prepared only once scheduled", () => {
    spec.given(H.scheduled).when(recordIpcPrepared).then([ipcPrepared]);
    for (const status of ["created", "starting", "ipc-prepared", "running", "exited"] as const) {
      spec
        .given(H[status])
        .when(recordIpcPrepared)
        .thenThrows(FailedPreconditionError, `container web has no IPC setup pending (status ${status})`);
    }
  });

  it("started only once IPC is prepared, recording pid, locked-in runtime and config version", () => {
    spec.given(H["ipc-prepared"]).when(recordStarted).then([started]);
    const state = fold(H.running);
    expect(state).toMatchObject({
      status: "running",
      host: "h1",
      ipcPlan: PLAN,
      process: { pid: 4242, ipcNamespaceInode: 4026532000, runtime: RUNTIME, configVersion: 3, startedAt: T1 },
    });
    for (const status of ["created", "starting", "scheduled", "running", "paused", "exited"] as const) {
      spec
        .given(H[status])
        .when(recordStarted)
        .thenThrows(FailedPreconditionError, `container web is not being started (status ${status})`);
    }
  });

  it.each<Status>(["starting", "scheduled", "ipc-prepared"])("start failed while %s → ContainerStartFailed", (status) => {
    spec.given(H[status]).when(recordStartFailed).then([startFailed]);
    expect(fold([...H[status], startFailed])).toMatchObject({
      status: "start-failed",
      failure: { reason: startFailed.data.reason, exitCode: 127, failedAt: T2 },
    });
  });

  it.each<Status>(["created", "running", "exited", "start-failed", "dead"])("start failed while %s → refused", (status) => {
    spec
      .given(H[status])
      .when(recordStartFailed)
      .thenThrows(FailedPreconditionError, `container web is not being started (status ${status})`);
  });

  it("a member's schedule carries the owner it was placed with", () => {
    spec
      .given([created(), startRequested()])
      .when({ type: "RecordScheduled", data: { containerId: ID, now: T1, host: "h1", ipcOwnerId: "f".repeat(64) } })
      .then([{ type: "ContainerScheduled", data: { containerId: ID, host: "h1", scheduledAt: T1, ipcOwnerId: "f".repeat(64) } }]);
  });

  it("a failed start with --rm also requests removal in the same decision", () => {
    spec
      .given([created({ autoRemove: true }), startRequested()])
      .when(recordStartFailed)
      .then([startFailed, removalRequested(false)]);
  });

  it.each<[string, ContainerCommand, string]>([
    ["an empty host", { type: "RecordScheduled", data: { containerId: ID, now: T1, host: "" } }, "host must not be empty"],
    ["an empty IPC owner", { type: "RecordScheduled", data: { containerId: ID, now: T1, host: "h1", ipcOwnerId: "" } }, "ipcOwnerId must not be empty"],
    ["a zero pid", { type: "RecordStarted", data: { ...recordStarted.data, pid: 0 } as never }, "invalid pid: 0"],
    ["a relative runtime path", { type: "RecordStarted", data: { ...recordStarted.data, runtime: { name: "runc", path: "runc", args: [] } } as never }, "invalid runtime.path: runc (want an absolute path)"],
    ["a zero config version", { type: "RecordStarted", data: { ...recordStarted.data, configVersion: 0 } as never }, "invalid configVersion: 0"],
    ["a negative exit code", { type: "RecordStartFailed", data: { containerId: ID, now: T2, reason: "x", exitCode: -1 } }, "invalid exit code: -1"],
    ["an empty reason", { type: "RecordStartFailed", data: { containerId: ID, now: T2, reason: " ", exitCode: 128 } }, "reason must not be empty"],
    ["a bad IPC plan", { type: "RecordIpcPrepared", data: { containerId: ID, now: T1, plan: { mode: "shared" } as never } }, 'invalid IPC plan: {"mode":"shared"}'],
  ])("refuses %s → InvalidArgumentError", (_, command, message) => {
    spec.given(H["ipc-prepared"]).when(command).thenThrows(InvalidArgumentError, message);
  });
});

describe("RecordExited", () => {
  it.each<Status>(["running", "paused"])("from %s → ContainerExited with code and time", (status) => {
    spec.given(H[status]).when(recordExited).then([exited]);
    expect(fold([...H[status], exited])).toEqual({
      status: "exited",
      container: expect.objectContaining({ id: ID, name: "web" }),
      lastExit: { exitCode: 0, exitedAt: T2, oomKilled: false },
    });
  });

  it("records an OOM kill", () => {
    spec
      .given(H.running)
      .when({ type: "RecordExited", data: { containerId: ID, exitCode: 137, exitedAt: T2, oomKilled: true } })
      .then([{ type: "ContainerExited", data: { containerId: ID, exitCode: 137, exitedAt: T2, oomKilled: true } }]);
  });

  it("with --rm, the same decision requests removal", () => {
    const history = [created({ autoRemove: true }), startRequested(), scheduled, ipcPrepared, started];
    spec.given(history).when(recordExited).then([exited, removalRequested(false)]);
    expect(fold([...history, exited, removalRequested(false)]).status).toBe("removing");
  });

  it.each<Status>(["created", "starting", "exited", "start-failed", "dead"])("from %s → refused", (status) => {
    spec.given(H[status]).when(recordExited).thenThrows(FailedPreconditionError, `container web is not running (status ${status})`);
  });
});

describe("restart policies (--restart)", () => {
  const withPolicy = (restartPolicy: HostConfig["restartPolicy"]) => [created({ restartPolicy }), startRequested(), scheduled, ipcPrepared, started];
  const exitWith = (exitCode: number, exitedAt = T2): ContainerCommand => ({ type: "RecordExited", data: { containerId: ID, exitCode, exitedAt } });
  const exitedWith = (exitCode: number, exitedAt = T2): ContainerEvent => ({ type: "ContainerExited", data: { containerId: ID, exitCode, exitedAt, oomKilled: false } });
  const automatic: ContainerCommand = { type: "StartContainer", data: { containerId: ID, now: T2, experimental: false, automatic: true } };
  const automaticRequested: ContainerEvent = { type: "ContainerStartRequested", data: { containerId: ID, requestedAt: T2, automatic: true } };
  const startedAt = (t: string): ContainerEvent => ({ type: "ContainerStarted", data: { containerId: ID, pid: 4343, runtime: RUNTIME, configVersion: 3, startedAt: t } });

  it("always: the exit plans a restart 100 ms later in the same decision, and the container is restarting", () => {
    spec.given(withPolicy(ALWAYS)).when(exitWith(0)).then([exitedWith(0), restartPlanned(1, 100)]);
    expect(fold([...withPolicy(ALWAYS), exitedWith(0), restartPlanned(1, 100)])).toMatchObject({
      status: "restarting",
      lastExit: { exitCode: 0 },
      restartDueAt: "2025-01-01T00:00:02.100Z",
      restarts: { count: 0, manuallyStopped: false, lastDelayMs: 100 },
    });
  });

  it("the restarter's start counts a restart; the next quick exit waits twice as long", () => {
    const history = [...withPolicy(ALWAYS), exitedWith(1), restartPlanned(1, 100)];
    spec.given(history).when(automatic).then([automaticRequested]);
    const again = [...history, automaticRequested, scheduled, ipcPrepared, startedAt("2025-01-01T00:00:02.200Z")];
    expect(restartsOf(fold(again))).toEqual({ count: 1, manuallyStopped: false, lastDelayMs: 100 });
    spec.given(again).when(exitWith(1, "2025-01-01T00:00:03.000Z")).then([exitedWith(1, "2025-01-01T00:00:03.000Z"), restartPlanned(2, 200, "2025-01-01T00:00:03.000Z")]);
  });

  it("a run of 10 s or more starts the backoff again at 100 ms", () => {
    const history = [...withPolicy(ALWAYS), exitedWith(1), restartPlanned(1, 100), automaticRequested, scheduled, ipcPrepared, startedAt(T2)];
    spec.given(history).when(exitWith(1, "2025-01-01T00:00:12.000Z")).then([exitedWith(1, "2025-01-01T00:00:12.000Z"), restartPlanned(2, 100, "2025-01-01T00:00:12.000Z")]);
  });

  it("on-failure:1 restarts one failure, not a second one, and never a clean exit", () => {
    const onFailure = { name: "on-failure" as const, maximumRetryCount: 1 };
    spec.given(withPolicy(onFailure)).when(exitWith(0)).then([exitedWith(0)]);
    spec.given(withPolicy(onFailure)).when(exitWith(3)).then([exitedWith(3), restartPlanned(1, 100)]);
    const once = [...withPolicy(onFailure), exitedWith(3), restartPlanned(1, 100), automaticRequested, scheduled, ipcPrepared, started];
    spec.given(once).when(exitWith(3)).then([exitedWith(3)]);
  });

  it("no policy, and unless-stopped after a clean exit", () => {
    spec.given(H.running).when(exitWith(1)).then([exitedWith(1)]);
    spec.given(withPolicy({ name: "unless-stopped", maximumRetryCount: 0 })).when(exitWith(0)).then([exitedWith(0), restartPlanned(1, 100)]);
  });

  it.each([["stop", stop], ["kill", kill()]] as const)("a %s by a user ends the policy until a user starts it again", (_, command) => {
    const [requested] = containerDecider.decide(command, fold(withPolicy(ALWAYS)));
    const history = [...withPolicy(ALWAYS), requested!];
    spec.given(history).when(exitWith(137)).then([exitedWith(137)]);
    const userStart = [...history, exitedWith(137), startRequested(), scheduled, ipcPrepared, started];
    expect(restartsOf(fold(userStart))).toBeUndefined();
    spec.given(userStart).when(exitWith(1)).then([exitedWith(1), restartPlanned(1, 100)]);
  });

  it("a stop while the restart waits cancels it: exited, and the restarter's start is a no-op", () => {
    const stopped: ContainerEvent = { type: "ContainerStopRequested", data: { containerId: ID, timeoutSeconds: 10, requestedAt: T2 } };
    spec.given(H.restarting).when(stop).then([stopped]);
    expect(fold([...H.restarting, stopped])).toMatchObject({ status: "exited", lastExit: { exitCode: 0 } });
    spec.given([...H.restarting, stopped]).when(automatic).then([]);
  });

  it("kill and pause wait for the restart; rm needs force", () => {
    spec.given(H.restarting).when(kill()).thenThrows(FailedPreconditionError, `Container ${ID} is restarting, wait until the container is running`);
    spec.given(H.restarting).when(pause).thenThrows(FailedPreconditionError, `Container ${ID} is restarting, wait until the container is running`);
    spec
      .given(H.restarting)
      .when(remove(false))
      .thenThrows(FailedPreconditionError, `You cannot remove a restarting container ${ID}. Stop the container before attempting removal or force remove`);
    spec.given(H.restarting).when(remove(true)).then([removalRequested(false)]);
  });

  it.each<Status>(["created", "running", "exited", "start-failed", "removing"])("the restarter's start of a %s container is a no-op", (status) => {
    spec.given(H[status]).when(automatic).then([]);
  });

  it("a member whose owner is gone when its restart is due fails that start, and the policy ends there", () => {
    const member = [created({ restartPolicy: ALWAYS, ipcMode: { kind: "container", ref: "db" } }), startRequested(), scheduled, ipcPrepared, started, exitedWith(1), restartPlanned()];
    const failed = [automaticRequested, { type: "ContainerStartFailed", data: { containerId: ID, reason: "No such container: db", exitCode: 128, failedAt: T2 } } as ContainerEvent];
    spec.given(member).when(automatic).then(failed);
    expect(fold([...member, ...failed]).status).toBe("start-failed");
  });

  it("a user's start resets the count, as docker start does", () => {
    const restarted = [...H.restarting, automaticRequested, scheduled, ipcPrepared, started];
    expect(restartsOf(fold(restarted))?.count).toBe(1);
    const stopped = [...restarted, { type: "ContainerStopRequested", data: { containerId: ID, timeoutSeconds: 10, requestedAt: T2 } } as ContainerEvent, exitedWith(0)];
    expect(restartsOf(fold([...stopped, startRequested()]))).toBeUndefined();
  });
});

describe("a lost host: lost is not dead", () => {
  const recordLost = (host = "h1"): ContainerCommand => ({ type: "RecordLost", data: { containerId: ID, now: T2, host, reason: `host ${host} lost` } });
  const lost = (host = "h1"): ContainerEvent => ({ type: "ContainerLost", data: { containerId: ID, host, reason: `host ${host} lost`, lostAt: T2 } });
  const recovered: ContainerEvent = { type: "ContainerRecovered", data: { containerId: ID, host: "h1", pid: 4242, recoveredAt: T2 } };

  it.each<Status>(["scheduled", "ipc-prepared", "running", "paused"])("%s on the lost host → lost, keeping its host and what it holds", (status) => {
    spec.given(H[status]).when(recordLost()).then([lost()]);
    expect(fold([...H[status], lost()])).toMatchObject({ status: "lost", host: "h1", lostAt: T2 });
  });

  it.each<Status>(["created", "starting", "exited", "restarting", "start-failed", "lost", "removing", "dead"])("%s → nothing (no placement on that host)", (status) => {
    spec.given(H[status]).when(recordLost()).then([]);
  });

  it("a placement on another host is not touched", () => {
    spec.given(H.running).when(recordLost("h2")).then([]);
  });

  it("with a restart policy, the loss plans a restart (elsewhere) in the same append, counted as a failure", () => {
    const history = [created({ restartPolicy: ALWAYS }), startRequested(), scheduled, ipcPrepared, started];
    const plan = restartPlanned(1, 100);
    spec.given(history).when(recordLost()).then([lost(), plan]);
    expect(fold([...history, lost(), plan])).toMatchObject({ status: "restarting", lastExit: { exitCode: 137, exitedAt: T2 } });
    const onFailure = [created({ restartPolicy: { name: "on-failure", maximumRetryCount: 0 } }), startRequested(), scheduled, ipcPrepared, started];
    spec.given(onFailure).when(recordLost()).then([lost(), plan]);
  });

  it("a container a user stopped is not restarted after a loss", () => {
    const stopped: ContainerEvent = { type: "ContainerStopRequested", data: { containerId: ID, timeoutSeconds: 10, requestedAt: T1 } };
    spec.given([created({ restartPolicy: ALWAYS }), startRequested(), scheduled, ipcPrepared, started, stopped]).when(recordLost()).then([lost()]);
  });

  it("its host came back with it running: recovered (adopted), with the pid the host reports; from another host, nothing", () => {
    spec.given(H.lost).when({ type: "RecordRecovered", data: { containerId: ID, now: T2, host: "h1", pid: 4242 } }).then([recovered]);
    expect(fold([...H.lost, recovered])).toMatchObject({ status: "running", host: "h1", process: { pid: 4242 } });
    spec.given(H.lost).when({ type: "RecordRecovered", data: { containerId: ID, now: T2, host: "h2", pid: 4242 } }).then([]);
    spec.given(H.running).when({ type: "RecordRecovered", data: { containerId: ID, now: T2, host: "h1", pid: 4242 } }).then([]);
  });

  it("an exit found when its host came back is recorded as any exit", () => {
    spec.given(H.lost).when(recordExited).then([exited]);
  });

  it("lost while starting, its host back without it: the start failed; lost with a process, it is not a start", () => {
    const lostStarting: ContainerEvent[] = [created(), startRequested(), scheduled, ipcPrepared, { type: "ContainerLost", data: { containerId: ID, host: "h1", reason: "host h1 lost", lostAt: T2 } } as ContainerEvent];
    const failed: ContainerCommand = { type: "RecordStartFailed", data: { containerId: ID, now: T2, reason: "host h1 was lost during the start", exitCode: 125 } };
    spec.given(lostStarting).when(failed).then([{ type: "ContainerStartFailed", data: { containerId: ID, reason: "host h1 was lost during the start", exitCode: 125, failedAt: T2 } }]);
    spec.given(H.lost).when(failed).thenThrows(FailedPreconditionError, "container web is not being started (status lost)");
  });

  it("an exit reported by another host than the one it is placed on is refused (a fenced copy)", () => {
    const from = (host: string): ContainerCommand => ({ type: "RecordExited", data: { containerId: ID, exitCode: 137, exitedAt: T2, host } });
    spec.given(H.running).when(from("h2")).thenThrows(FailedPreconditionError, "exit of container web reported by host h2, but it runs on host h1");
    spec.given(H.running).when(from("h1")).then([{ type: "ContainerExited", data: { containerId: ID, exitCode: 137, exitedAt: T2, oomKilled: false } }]);
  });

  it("a user cannot stop, kill, pause or start it: its host does not answer; removal needs force", () => {
    const message = "container web is lost: its host h1 does not answer (remove it with force, or wait for the host)";
    for (const command of [stop, kill(), pause, start()]) spec.given(H.lost).when(command).thenThrows(FailedPreconditionError, message);
    spec.given(H.lost).when(remove(true)).then([removalRequested(true)]);
  });
});

describe("StopContainer and KillContainer", () => {
  it.each<Status>(["running", "paused"])("stop %s → ContainerStopRequested", (status) => {
    spec
      .given(H[status])
      .when(stop)
      .then([{ type: "ContainerStopRequested", data: { containerId: ID, timeoutSeconds: 10, requestedAt: T2 } }]);
  });

  it.each<Status>(["created", "exited", "start-failed", "dead", "removing"])("stop %s → no-op, as Docker", (status) => {
    spec.given(H[status]).when(stop).thenNothingHappened();
  });

  it.each<Status>(["starting", "scheduled", "ipc-prepared"])("stop while %s → refused until the start has an outcome", (status) => {
    spec.given(H[status]).when(stop).thenThrows(FailedPreconditionError, "container web is starting: stop it once the start has finished");
  });

  it("stop accepts -1 (wait forever) and refuses other negatives and fractions", () => {
    spec
      .given(H.running)
      .when({ type: "StopContainer", data: { containerId: ID, now: T2, timeoutSeconds: -1 } })
      .then([{ type: "ContainerStopRequested", data: { containerId: ID, timeoutSeconds: -1, requestedAt: T2 } }]);
    for (const t of [-2, 1.5, Number.NaN]) {
      spec
        .given(H.running)
        .when({ type: "StopContainer", data: { containerId: ID, now: T2, timeoutSeconds: t } })
        .thenThrows(InvalidArgumentError, `invalid stop timeout: ${t}`);
    }
  });

  it.each<[string | number, number]>([
    ["KILL", 9],
    ["SIGTERM", 15],
    ["term", 15],
    [15, 15],
    ["1", 1],
    ["", 9],
    ["RTMIN+3", 37],
  ])("kill %j of a running container sends signal %d", (signal, number) => {
    spec
      .given(H.running)
      .when(kill(signal))
      .then([{ type: "ContainerKillRequested", data: { containerId: ID, signal: number, requestedAt: T2 } }]);
  });

  it("kill of a paused container is allowed", () => {
    spec.given(H.paused).when(kill()).then([{ type: "ContainerKillRequested", data: { containerId: ID, signal: 9, requestedAt: T2 } }]);
  });

  it.each<Status>(["created", "starting", "exited", "start-failed", "removing", "dead"])("kill %s → not running", (status) => {
    spec.given(H[status]).when(kill()).thenThrows(FailedPreconditionError, `Container ${ID} is not running`);
  });

  it.each(["SIGFOO", 0, 65, "-1"])("kill with signal %j → InvalidArgument", (signal) => {
    spec.given(H.running).when(kill(signal)).thenThrows(InvalidArgumentError, `invalid signal: ${signal}`);
  });

  it.each<Status>(["absent", "removed"])("stop or kill %s → NotFound", (status) => {
    spec.given(H[status]).when(stop).thenThrows(NotFoundError, NO_SUCH);
    spec.given(H[status]).when(kill()).thenThrows(NotFoundError, NO_SUCH);
  });
});

describe("PauseContainer and UnpauseContainer", () => {
  it("pause running → ContainerPaused; unpause → running again with the same process", () => {
    spec.given(H.running).when(pause).then([paused]);
    spec.given(H.paused).when(unpause).then([unpaused]);
    expect(fold([...H.paused, unpaused])).toEqual(fold(H.running));
  });

  it("pause of a paused container → already paused", () => {
    spec.given(H.paused).when(pause).thenThrows(FailedPreconditionError, `Container ${ID} is already paused`);
  });

  it.each<Status>(["created", "starting", "scheduled", "ipc-prepared", "exited", "start-failed", "removing", "dead"])(
    "pause %s → not running; unpause → not paused",
    (status) => {
      spec.given(H[status]).when(pause).thenThrows(FailedPreconditionError, `Container ${ID} is not running`);
      spec.given(H[status]).when(unpause).thenThrows(FailedPreconditionError, `Container ${ID} is not paused`);
    },
  );

  it("unpause running → not paused", () => {
    spec.given(H.running).when(unpause).thenThrows(FailedPreconditionError, `Container ${ID} is not paused`);
  });

  it.each<Status>(["absent", "removed"])("pause or unpause %s → NotFound", (status) => {
    spec.given(H[status]).when(pause).thenThrows(NotFoundError, NO_SUCH);
    spec.given(H[status]).when(unpause).thenThrows(NotFoundError, NO_SUCH);
  });
});

describe("RemoveContainer", () => {
  it.each<Status>(["created", "exited", "start-failed", "dead"])("remove %s → removal requested, nothing to stop", (status) => {
    spec.given(H[status]).when(remove()).then([removalRequested(false)]);
  });

  it.each<Status>(["running", "paused", "starting", "scheduled", "ipc-prepared"])("remove %s without force → refused", (status) => {
    spec
      .given(H[status])
      .when(remove(false))
      .thenThrows(
        FailedPreconditionError,
        `You cannot remove a running container ${ID}. Stop the container before attempting removal or force remove`,
      );
  });

  it.each<Status>(["running", "paused", "starting", "scheduled", "ipc-prepared"])("force remove %s → removal requested, stop first", (status) => {
    spec.given(H[status]).when(remove(true)).then([removalRequested(true)]);
  });

  it("a forced removal keeps what the container holds, for the cleanup", () => {
    expect(fold([...H.running, removalRequested(true)])).toMatchObject({
      status: "removing",
      stopFirst: true,
      host: "h1",
      ipcPlan: PLAN,
      process: { pid: 4242 },
    });
  });

  it("remove while removing → already in progress", () => {
    spec.given(H.removing).when(remove(true)).thenThrows(FailedPreconditionError, "removal of container web is already in progress");
  });

  it.each<Status>(["absent", "removed"])("remove %s → NotFound", (status) => {
    spec.given(H[status]).when(remove(true)).thenThrows(NotFoundError, NO_SUCH);
  });

  it("RecordRemoved only while removing", () => {
    spec.given(H.removing).when(recordRemoved).then([removed]);
    spec.given(H.running).when(recordRemoved).thenThrows(FailedPreconditionError, "container web is not being removed (status running)");
    spec.given(H.removed).when(recordRemoved).thenThrows(NotFoundError, NO_SUCH);
  });

  it("late facts of a start or exit are still recorded while removing, and the status stays removing", () => {
    const forcedWhileStarting = [created(), startRequested(), removalRequested(true)];
    spec.given(forcedWhileStarting).when(recordScheduled).then([scheduled]);
    spec.given([...forcedWhileStarting, scheduled]).when(recordIpcPrepared).then([ipcPrepared]);
    spec.given([...forcedWhileStarting, scheduled, ipcPrepared]).when(recordStarted).then([started]);
    const withProcess = [...forcedWhileStarting, scheduled, ipcPrepared, started];
    expect(fold(withProcess)).toMatchObject({ status: "removing", host: "h1", ipcPlan: PLAN, process: { pid: 4242 } });
    spec.given(withProcess).when(recordExited).then([exited]);
    expect(fold([...withProcess, exited])).not.toHaveProperty("process");
    expect(fold([...withProcess, exited]).status).toBe("removing");
    spec.given([...forcedWhileStarting, scheduled]).when(recordStartFailed).then([startFailed]);
    // A removing container with no process cannot exit, and one with a process cannot start again.
    spec.given(H.removing).when(recordExited).thenThrows(FailedPreconditionError, "container web is not running (status removing)");
    spec.given(withProcess).when(recordStarted).thenThrows(FailedPreconditionError, "container web is not being started (status removing)");
  });

  it("an --rm container already being removed does not request removal twice", () => {
    const history = [created({ autoRemove: true }), startRequested(), scheduled, ipcPrepared, started, removalRequested(true)];
    spec.given(history).when(recordExited).then([exited]);
  });
});

describe("RecordDead", () => {
  it.each<Status>(["removing", "running", "created", "exited"])("from %s → ContainerDied", (status) => {
    spec.given(H[status]).when(recordDead).then([died]);
  });
  it("dead again → no events", () => {
    spec.given(H.dead).when(recordDead).thenNothingHappened();
  });
  it("a dead container may be removed, and then it is gone", () => {
    spec.given(H.dead).when(remove()).then([removalRequested(false)]);
    expect(fold([...H.dead, removalRequested(false), removed]).status).toBe("removed");
  });
  it.each<Status>(["absent", "removed"])("from %s → NotFound", (status) => {
    spec.given(H[status]).when(recordDead).thenThrows(NotFoundError, NO_SUCH);
  });
});

describe("evolve", () => {
  it("folds every history to the status it is named after", () => {
    for (const [status, history] of Object.entries(H)) expect(fold(history).status).toBe(status);
  });

  it("refuses an event before ContainerCreated: the stream is corrupt", () => {
    expect(() => evolve(initialState(), startRequested())).toThrow(InternalError);
  });

  it("a restart after an exit keeps the definition and starts over", () => {
    const state = fold([...H.exited, startRequested()]);
    expect(state).toMatchObject({ status: "starting", container: { id: ID, name: "web" }, startRequestedAt: T1 });
  });

  it("every decided event survives a JSON round trip unchanged (it is stored as JSON)", () => {
    for (const e of [created({ shmSize: 1 }), startRequested("cp"), scheduled, ipcPrepared, started, startFailed, exited, paused, unpaused, removalRequested(true), removed, died]) {
      expect(JSON.parse(JSON.stringify(e))).toStrictEqual(e);
    }
  });
});

// The README's state machine table, cell by cell (with --rm off). Outcomes: event types
// without the "Container" prefix joined by "+", "[]" for none, or the refusal's code.
describe("the README's state machine table", () => {
  const statuses: Status[] = ["absent", "created", "starting", "scheduled", "ipc-prepared", "running", "paused", "exited", "restarting", "lost", "start-failed", "removing", "removed", "dead"];
  const rows: [string, ContainerCommand, string][] = [
    ["CreateContainer", create(), "Created AE AE AE AE AE AE AE AE AE AE AE AE AE"],
    ["StartContainer", start(), "NF StartRequested [] [] [] [] FP StartRequested [] FP StartRequested FP NF FP"],
    ["StartContainer from checkpoint, experimental off", start({ fromCheckpoint: "cp" }), "FP FP FP FP FP FP FP FP FP FP FP FP FP FP"],
    ["StartContainer from checkpoint, experimental on", start({ fromCheckpoint: "cp", experimental: true }), "NF NF [] [] [] [] FP NF [] FP NF FP NF FP"],
    ["RenameContainer", rename("web2"), "NF Renamed Renamed Renamed Renamed Renamed Renamed Renamed Renamed Renamed Renamed FP NF FP"],
    ["RecordScheduled", recordScheduled, "NF FP Scheduled FP FP FP FP FP FP FP FP Scheduled NF FP"],
    ["RecordIpcPrepared", recordIpcPrepared, "NF FP FP IpcPrepared FP FP FP FP FP FP FP FP NF FP"],
    ["RecordStarted", recordStarted, "NF FP FP FP Started FP FP FP FP FP FP FP NF FP"],
    ["RecordStartFailed", recordStartFailed, "NF FP StartFailed StartFailed StartFailed FP FP FP FP FP FP StartFailed NF FP"],
    ["RecordExited", recordExited, "NF FP FP FP FP Exited Exited FP FP Exited FP FP NF FP"],
    ["StopContainer", stop, "NF [] FP FP FP StopRequested StopRequested [] StopRequested FP [] [] NF []"],
    ["KillContainer", kill(), "NF FP FP FP FP KillRequested KillRequested FP FP FP FP FP NF FP"],
    ["PauseContainer", pause, "NF FP FP FP FP Paused FP FP FP FP FP FP NF FP"],
    ["UnpauseContainer", unpause, "NF FP FP FP FP FP Unpaused FP FP FP FP FP NF FP"],
    ["RemoveContainer", remove(false), "NF RemovalRequested FP FP FP FP FP RemovalRequested FP FP RemovalRequested FP NF RemovalRequested"],
    ["RemoveContainer force", remove(true), "NF RemovalRequested RemovalRequested RemovalRequested RemovalRequested RemovalRequested RemovalRequested RemovalRequested RemovalRequested RemovalRequested RemovalRequested FP NF RemovalRequested"],
    ["RecordRemoved", recordRemoved, "NF FP FP FP FP FP FP FP FP FP FP Removed NF FP"],
    ["RecordDead", recordDead, "NF Died Died Died Died Died Died Died Died Died Died Died NF []"],
  ];
  const codes: Record<string, string> = { NOT_FOUND: "NF", ALREADY_EXISTS: "AE", FAILED_PRECONDITION: "FP", INVALID_ARGUMENT: "IA", INTERNAL: "IN" };
  const outcome = (command: ContainerCommand, history: ContainerEvent[]): string => {
    try {
      const events = containerDecider.decide(command, fold(history));
      return events.length === 0 ? "[]" : events.map((e) => e.type.replace(/^Container/, "")).join("+");
    } catch (err) {
      return err instanceof ShoalError ? (codes[err.code] ?? err.code) : String(err);
    }
  };
  it.each(rows)("%s", (_, command, expected) => {
    expect(statuses.map((status) => `${status}:${outcome(command, H[status])}`)).toEqual(
      expected.split(" ").map((cell, i) => `${statuses[i]}:${cell}`),
    );
  });
});

describe("any sequence of commands", () => {
  const commands: ContainerCommand[] = [
    create(),
    create({ hostConfig: { autoRemove: true } }),
    start(),
    start({ fromCheckpoint: "cp", experimental: true }),
    recordScheduled,
    recordIpcPrepared,
    recordStarted,
    recordStartFailed,
    recordExited,
    stop,
    kill(),
    pause,
    unpause,
    remove(false),
    remove(true),
    recordRemoved,
    recordDead,
    rename("web2"),
    rename("web"),
    create({ hostConfig: { restart: "always" } }),
    create({ hostConfig: { restart: "on-failure:2" } }),
    { type: "StartContainer", data: { containerId: ID, now: T2, experimental: false, automatic: true } },
    { type: "RecordExited", data: { containerId: ID, exitCode: 1, exitedAt: T2 } },
  ];
  it("is either refused with a domain error or decides events that fold; removed is final", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...commands), { maxLength: 40 }), (sequence) => {
        let state = initialState();
        for (const command of sequence) {
          let events: ContainerEvent[];
          try {
            events = containerDecider.decide(command, state);
          } catch (err) {
            expect(err).toBeInstanceOf(ShoalError);
            expect((err as ShoalError).code).not.toBe("INTERNAL");
            continue;
          }
          const before = state.status;
          state = events.reduce(evolve, state);
          if (before === "removed") expect(command.type).toBe("CreateContainer");
          if (state.status === "running" || state.status === "paused") expect(state.process.pid).toBeGreaterThan(0);
          if (state.status === "restarting") expect(state.container.hostConfig.restartPolicy).toBeDefined();
        }
        if (state.status === "removed") {
          for (const command of commands) {
            if (command.type !== "CreateContainer") expect(() => containerDecider.decide(command, state)).toThrow(NotFoundError);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

function restartsOf(state: ReturnType<typeof fold>) {
  return state.status === "absent" ? undefined : state.restarts;
}

function fold(events: ContainerEvent[]) {
  return events.reduce(evolve, initialState());
}

describe("CheckpointContainer", () => {
  it("of a running container → ContainerCheckpointRequested; of a paused or stopped one → refused with Docker's words", () => {
    spec
      .given(H.running)
      .when(checkpoint())
      .then([{ type: "ContainerCheckpointRequested", data: { containerId: ID, checkpoint: "cp1", leaveRunning: false, requestedAt: T2 } }]);
    spec.given(H.paused).when(checkpoint()).thenThrows(FailedPreconditionError, "container web is paused, unpause the container before checkpointing it");
    for (const status of ["created", "exited", "start-failed"] as const) {
      spec.given(H[status]).when(checkpoint()).thenThrows(FailedPreconditionError, "Container web not running");
    }
  });

  it("refuses a checkpoint name Docker refuses", () => {
    spec
      .given(H.running)
      .when({ type: "CheckpointContainer", data: { containerId: ID, now: T2, checkpoint: "-bad", leaveRunning: false } })
      .thenThrows(InvalidArgumentError, "Invalid checkpoint ID (-bad), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  });

  it("a checkpoint that stops the container ends its restart policy; one that leaves it running does not", () => {
    const requested = (leaveRunning: boolean): ContainerEvent => ({
      type: "ContainerCheckpointRequested",
      data: { containerId: ID, checkpoint: "cp1", leaveRunning, requestedAt: T2 },
    });
    const fold = (events: ContainerEvent[]) => events.reduce(containerDecider.evolve, containerDecider.initialState());
    const stopped = fold([...H.running, requested(false)]);
    expect(stopped.status).toBe("running");
    expect(stopped.status !== "absent" && stopped.restarts?.manuallyStopped).toBe(true);
    const running = fold([...H.running, requested(true)]);
    expect(running.status !== "absent" && running.restarts?.manuallyStopped).toBeFalsy();
    // A failed dump leaves it running, its policy as before; a made one keeps the stop.
    const failed: ContainerEvent = { type: "ContainerCheckpointFailed", data: { containerId: ID, checkpoint: "cp1", reason: "criu failed", failedAt: T2 } };
    const afterFailure = fold([...H.running, requested(false), failed]);
    expect(afterFailure.status !== "absent" && afterFailure.restarts?.manuallyStopped).toBeFalsy();
    const made: ContainerEvent = { type: "ContainerCheckpointed", data: { containerId: ID, checkpoint: {} as never, checkpointedAt: T2 } };
    const afterMade = fold([...H.running, requested(false), made, failed]);
    expect(afterMade.status !== "absent" && afterMade.restarts?.manuallyStopped).toBe(true);
    // A stop by the user before the checkpoint stays a stop whatever the dump does.
    const userStop: ContainerEvent = { type: "ContainerStopRequested", data: { containerId: ID, timeoutSeconds: 10, requestedAt: T1 } };
    const afterStop = fold([...H.running, userStop, requested(false), failed]);
    expect(afterStop.status !== "absent" && afterStop.restarts?.manuallyStopped).toBe(true);
  });
});
