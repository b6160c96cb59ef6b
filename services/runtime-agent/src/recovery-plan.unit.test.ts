import fc from "fast-check";
import type { IpcPlan } from "@shoal/domain";
import type { MountInfoEntry } from "@shoal/host-os";
import { describe, expect, it } from "vitest";
import type { ContainerRecord } from "./container-store";
import { planRecovery } from "./recovery-plan";
import type { ObservedTask } from "./recovery-plan";

const ROOT = "/var/lib/shoal";
const shmOf = (id: string) => `${ROOT}/containers/${id}/mounts/shm`;

function record(id: string, over: Partial<ContainerRecord> = {}, ipcPlan: IpcPlan = { mode: "private", shmSizeBytes: 1 }): ContainerRecord {
  return {
    version: 1,
    containerId: id,
    status: "running",
    runtime: { name: "runc", path: "/usr/sbin/runc", args: [], binaryPath: "/usr/sbin/runc" },
    ipcPlan,
    spec: { ociVersion: "1.0.2" } as ContainerRecord["spec"],
    logs: { stdout: "/x", stderr: "/y" },
    pid: 100,
    ...over,
  };
}

function mount(mountPoint: string, fsType = "tmpfs"): MountInfoEntry {
  return {
    mountId: 1,
    parentId: 0,
    major: 0,
    minor: 1,
    root: "/",
    mountPoint,
    mountOptions: ["rw"],
    optionalFields: [],
    propagation: "private",
    peerGroup: undefined,
    masterGroup: undefined,
    fsType,
    source: "shm",
    superOptions: ["rw"],
  };
}

const running = (id: string, pid = 100): ObservedTask => ({ containerId: id, status: "running", pid });
const stopped = (id: string, pid = 100, code = 0): ObservedTask => ({
  containerId: id,
  status: "stopped",
  pid,
  exit: { exitStatus: code, exitedAt: new Date(1000) },
});

describe("planRecovery", () => {
  it("adopts running tasks, reports stopped ones once, and leaves tasks without a record alone", () => {
    const plan = planRecovery({
      stateRoot: ROOT,
      records: [record("a"), record("b"), record("c", { status: "exited", exit: { exitCode: 1, exitedAt: "x", pid: 100, reported: true } })],
      tasks: [running("a"), stopped("b", 100, 137), stopped("c"), running("foreign")],
      containers: ["a", "b", "c"],
      mounts: [],
    });
    expect(plan.adopt).toEqual(["a"]);
    expect(plan.reportExit).toEqual([{ containerId: "b", pid: 100, exitCode: 137, exitedAt: new Date(1000) }]);
    expect(plan.deleteStopped).toEqual(["c"]);
    expect(plan.foreign).toEqual(["foreign"]);
  });

  it("reports an exit again only for a new incarnation (another pid)", () => {
    const plan = planRecovery({
      stateRoot: ROOT,
      records: [record("a", { status: "exited", exit: { exitCode: 0, exitedAt: "x", pid: 99, reported: true } })],
      tasks: [stopped("a", 100, 2)],
      containers: ["a"],
      mounts: [],
    });
    expect(plan.reportExit.map((e) => e.pid)).toEqual([100]);
  });

  it("reports an exit recorded but never acknowledged, and one whose task vanished", () => {
    const plan = planRecovery({
      stateRoot: ROOT,
      records: [
        record("a", { status: "exited", exit: { exitCode: 3, exitedAt: "1970-01-01T00:00:01.000Z", pid: 7, reported: false, cleanedUp: true } }),
        record("b", { pid: 8 }),
      ],
      tasks: [],
      containers: [],
      mounts: [],
    });
    expect(plan.reportExit).toEqual([{ containerId: "a", pid: 7, exitCode: 3, exitedAt: new Date(1000) }]);
    expect(plan.lost).toEqual([{ containerId: "b", pid: 8, exitCode: 255, exitedAt: new Date(0) }]);
  });

  it("undoes starts the agent died in, whether or not a task exists", () => {
    const plan = planRecovery({
      stateRoot: ROOT,
      records: [record("a", { status: "starting" }), record("b", { status: "starting" })],
      tasks: [running("a")],
      containers: ["a", "b", "orphan"],
      mounts: [],
    });
    expect(plan.abandonedStarts.sort()).toEqual(["a", "b"]);
    expect(plan.adopt).toEqual([]);
    expect(plan.orphanContainers).toEqual(["orphan"]);
  });

  it("while running, leaves a start in progress and its shm alone, and never takes over an exit the agent is handling", () => {
    const starting = record("s", { status: "starting" }, { mode: "shareable", shmSizeBytes: 1, shmMountPath: shmOf("s") });
    const plan = planRecovery({
      stateRoot: ROOT,
      records: [starting, record("w")],
      tasks: [running("s"), stopped("w")],
      containers: ["s", "w"],
      mounts: [mount(shmOf("s"))],
      phase: "running",
      watched: ["w"],
    });
    expect(plan.abandonedStarts).toEqual([]);
    expect(plan.orphanContainers).toEqual([]);
    expect(plan.keepMounts).toEqual([shmOf("s")]);
    expect(plan.reportExit).toEqual([]);
    expect(plan.adopt).toEqual(["w"]);
  });

  it("keeps one copy of an shm mount a live owner or member uses, unmounts stacked copies and strays", () => {
    const owner = record("owner", {}, { mode: "shareable", shmSizeBytes: 1, shmMountPath: shmOf("owner") });
    const member = record("member", {}, { mode: "container", ownerId: "owner", ownerPid: 1, shmSizeBytes: 1, shmMountPath: shmOf("gone-owner") });
    const plan = planRecovery({
      stateRoot: ROOT,
      records: [owner, member],
      tasks: [running("owner"), running("member")],
      containers: ["owner", "member"],
      mounts: [
        mount(shmOf("owner")),
        mount(shmOf("owner")),
        mount(shmOf("gone-owner")),
        mount(shmOf("stray")),
        mount(`${ROOT}/containers/stray/rootfs/merged`, "overlay"),
        mount(`${ROOT}/containers/x/somewhere-else`),
        mount("/elsewhere/containers/y/mounts/shm"),
      ],
    });
    expect(plan.keepMounts.sort()).toEqual([shmOf("gone-owner"), shmOf("owner")]);
    expect(plan.unmount.sort()).toEqual([`${ROOT}/containers/stray/rootfs/merged`, shmOf("owner"), shmOf("stray")].sort());
  });

  it("keeps the shm mount of a container the control plane expects, even with nothing running", () => {
    const plan = planRecovery({ stateRoot: ROOT, records: [], tasks: [], containers: [], mounts: [mount(shmOf("soon"))], expected: ["soon"] });
    expect(plan.keepMounts).toEqual([shmOf("soon")]);
    expect(plan.unmount).toEqual([]);
  });

  it("property: every agent mount point ends with at most one mount, exactly one when needed; no container is in two buckets", () => {
    const ids = fc.constantFrom("a", "b", "c", "d");
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ id: ids, status: fc.constantFrom("starting", "running", "exited") as fc.Arbitrary<"starting" | "running" | "exited">, shareable: fc.boolean() }), { selector: (r) => r.id }),
        fc.uniqueArray(fc.record({ id: ids, status: fc.constantFrom("running", "stopped", "paused", "created") }), { selector: (t) => t.id }),
        fc.array(fc.record({ id: ids, kind: fc.constantFrom("shm", "merged") }), { maxLength: 10 }),
        fc.subarray(["a", "b", "c", "d"]),
        (recs, tasks, mounts, expected) => {
          const plan = planRecovery({
            stateRoot: ROOT,
            records: recs.map((r) =>
              record(r.id, { status: r.status }, r.shareable ? { mode: "shareable", shmSizeBytes: 1, shmMountPath: shmOf(r.id) } : { mode: "private", shmSizeBytes: 1 }),
            ),
            tasks: tasks.map((t) => ({ containerId: t.id, status: t.status, pid: 1 })),
            containers: tasks.map((t) => t.id),
            mounts: mounts.map((m) => mount(m.kind === "shm" ? shmOf(m.id) : `${ROOT}/containers/${m.id}/rootfs/merged`)),
            expected,
          });
          const buckets = [plan.adopt, plan.reportExit.map((e) => e.containerId), plan.deleteStopped, plan.abandonedStarts, plan.lost.map((e) => e.containerId), plan.foreign];
          const all = buckets.flat();
          expect(new Set(all).size).toBe(all.length);
          const before = new Map<string, number>();
          for (const m of mounts) {
            const p = m.kind === "shm" ? shmOf(m.id) : `${ROOT}/containers/${m.id}/rootfs/merged`;
            before.set(p, (before.get(p) ?? 0) + 1);
          }
          for (const [p, n] of before) {
            const removed = plan.unmount.filter((u) => u === p).length;
            const left = n - removed;
            expect(left).toBe(plan.keepMounts.includes(p) ? 1 : 0);
          }
          // A running container's own shm is never unmounted completely.
          for (const id of plan.adopt) {
            const r = recs.find((x) => x.id === id)!;
            if (r.shareable && before.has(shmOf(id))) expect(plan.keepMounts).toContain(shmOf(id));
          }
        },
      ),
    );
  });
});
