import { describe, expect, it } from "vitest";
import { DEFAULT_SHM_SIZE_BYTES, FailedPreconditionError, NotFoundError, parseIpcMode } from "@shoal/domain";
import type { IpcPlan } from "@shoal/domain";
import { planIpc, shmMountPath } from "./ipc-planner";
import type { IpcOwnerView, IpcPlanConfig, IpcPlanInput } from "./ipc-planner";

const ID = "a".repeat(64);
const OWNER = "b".repeat(64);
const MiB = 1024 * 1024;
const config: IpcPlanConfig = { defaultIpcMode: "private", defaultShmSizeBytes: 32 * MiB, stateRoot: "/var/lib/shoal" };
const ownerPath = `/var/lib/shoal/containers/${OWNER}/mounts/shm`;
const runningOwner: IpcOwnerView = {
  containerId: OWNER,
  running: true,
  pid: 4242,
  host: "h1",
  plan: { mode: "shareable", shmSizeBytes: 128 * MiB, shmMountPath: ownerPath },
};

function input(mode: string | undefined, extra: Partial<IpcPlanInput> = {}): IpcPlanInput {
  return {
    containerId: ID,
    requestedMode: mode === undefined ? undefined : parseIpcMode(mode),
    requestedShmSize: undefined,
    host: "h1",
    config,
    ...extra,
  };
}

describe("planIpc: plans", () => {
  const cases: { name: string; in: IpcPlanInput; plan: IpcPlan }[] = [
    { name: "none has no shm", in: input("none"), plan: { mode: "none" } },
    { name: "none ignores a size", in: input("none", { requestedShmSize: MiB }), plan: { mode: "none" } },
    { name: "host has no shm of its own", in: input("host"), plan: { mode: "host" } },
    { name: "private takes default-shm-size", in: input("private"), plan: { mode: "private", shmSizeBytes: 32 * MiB } },
    {
      name: "private with its own size",
      in: input("private", { requestedShmSize: 8 * MiB }),
      plan: { mode: "private", shmSizeBytes: 8 * MiB },
    },
    {
      name: "empty mode takes the daemon default (private)",
      in: input(""),
      plan: { mode: "private", shmSizeBytes: 32 * MiB },
    },
    {
      name: "empty mode takes the daemon default (shareable)",
      in: input("", { config: { ...config, defaultIpcMode: "shareable" } }),
      plan: { mode: "shareable", shmSizeBytes: 32 * MiB, shmMountPath: `/var/lib/shoal/containers/${ID}/mounts/shm` },
    },
    {
      name: "a record without a mode is shareable, whatever the daemon default",
      in: input(undefined),
      plan: { mode: "shareable", shmSizeBytes: 32 * MiB, shmMountPath: `/var/lib/shoal/containers/${ID}/mounts/shm` },
    },
    {
      name: "shareable with its own size under the configured state root",
      in: input("shareable", { requestedShmSize: 2 * MiB, config: { ...config, stateRoot: "/srv/shoal/" } }),
      plan: { mode: "shareable", shmSizeBytes: 2 * MiB, shmMountPath: `/srv/shoal/containers/${ID}/mounts/shm` },
    },
    {
      name: "shareable under the state root its host registered with, over the configured one",
      in: input("shareable", { hostStateRoot: "/var/lib/shoal-h2/", config: { ...config, stateRoot: "/srv/shoal" } }),
      plan: { mode: "shareable", shmSizeBytes: 32 * MiB, shmMountPath: `/var/lib/shoal-h2/containers/${ID}/mounts/shm` },
    },
    {
      name: "shareable reuses the mount its members kept, with that size",
      in: input("shareable", { requestedShmSize: 2 * MiB, mountedShm: { host: "h1", sizeBytes: 16 * MiB, path: "/x/shm" } }),
      plan: { mode: "shareable", shmSizeBytes: 16 * MiB, shmMountPath: "/x/shm" },
    },
    {
      name: "member gets its owner's pid, path and size",
      in: input("container:db", { owner: runningOwner }),
      plan: { mode: "container", ownerId: OWNER, ownerPid: 4242, shmSizeBytes: 128 * MiB, shmMountPath: ownerPath },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = planIpc(c.in);
      expect(r.ok && r.plan).toEqual(c.plan);
    });
  }

  it("uses 64 MiB when the config has the built-in default", () => {
    const r = planIpc(input("private", { config: { ...config, defaultShmSizeBytes: DEFAULT_SHM_SIZE_BYTES } }));
    expect(r.ok && r.plan).toEqual({ mode: "private", shmSizeBytes: 64 * MiB });
  });

  it("shmMountPath is <state-root>/containers/<owner>/mounts/shm", () => {
    expect(shmMountPath("/var/lib/shoal", OWNER)).toBe(ownerPath);
  });
});

describe("planIpc: refusals", () => {
  const cases: { name: string; in: IpcPlanInput; error: new (...a: never[]) => Error; message: string }[] = [
    {
      name: "owner missing",
      in: input("container:db"),
      error: NotFoundError,
      message: "No such container: db",
    },
    {
      name: "owner not running",
      in: input("container:db", { owner: { containerId: OWNER, running: false } }),
      error: FailedPreconditionError,
      message: "container db is not running",
    },
    {
      name: "owner private",
      in: input("container:db", {
        owner: { ...runningOwner, plan: { mode: "private", shmSizeBytes: MiB } },
      }),
      error: FailedPreconditionError,
      message: "non-shareable IPC (hint: start db with --ipc shareable)",
    },
    {
      name: "owner with none",
      in: input("container:db", { owner: { ...runningOwner, plan: { mode: "none" } } }),
      error: FailedPreconditionError,
      message: "non-shareable IPC (hint: start db with --ipc shareable)",
    },
    {
      name: "owner joined another (a member cannot be joined)",
      in: input(`container:${OWNER}`, {
        owner: {
          ...runningOwner,
          plan: { mode: "container", ownerId: "c".repeat(64), ownerPid: 1, shmSizeBytes: MiB, shmMountPath: "/p" },
        },
      }),
      error: FailedPreconditionError,
      message: `non-shareable IPC (hint: start ${OWNER} with --ipc shareable)`,
    },
    {
      name: "owner on another host",
      in: input("container:db", { host: "h2", owner: runningOwner }),
      error: FailedPreconditionError,
      message: "container db runs on host h1, not on h2: an IPC group runs on one host",
    },
    {
      name: "joining itself",
      in: input(`container:${ID}`, { owner: { ...runningOwner, containerId: ID } }),
      error: FailedPreconditionError,
      message: `container ${ID} cannot join its own IPC namespace`,
    },
    {
      name: "owner restarting on another host while members keep its mount",
      in: input("shareable", { host: "h2", mountedShm: { host: "h1", sizeBytes: MiB, path: "/x/shm" } }),
      error: FailedPreconditionError,
      message: `the shm mount of container ${ID} is still in use by its IPC group on host h1; it cannot start on host h2`,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = planIpc(c.in);
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.error).toBeInstanceOf(c.error);
      expect(r.error.message).toBe(c.message);
    });
  }
});
