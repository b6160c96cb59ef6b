import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsStreamName } from "@shoal/bus";
import { containerStreamId } from "@shoal/domain";
import type { IpcPlan } from "@shoal/domain";
import { reportIds } from "@shoal/host-protocol";
import { runContainerCommand } from "./api-context";
import { reportEventId } from "./report-recorder";
import { createApiTestBed } from "./testing/api-test-bed";
import type { ApiTestBed } from "./testing/api-test-bed";

// The Containers API in-process on real Postgres and NATS, with a fake agent answering
// host commands and publishing reports. Scheduler and mount-manager are other services:
// the test appends their events (ContainerScheduled, ContainerIpcPrepared) itself.

let bed: ApiTestBed;
beforeAll(async () => {
  bed = await createApiTestBed();
});
afterAll(async () => {
  await bed?.close();
});

const shareable = (id: string): IpcPlan => ({
  mode: "shareable",
  shmSizeBytes: 64 * 1024 * 1024,
  shmMountPath: `/var/lib/shoal/containers/${id}/mounts/shm`,
});
const privatePlan: IpcPlan = { mode: "private", shmSizeBytes: 64 * 1024 * 1024 };

async function create(name: string, hostConfig: object = {}, extra: object = {}): Promise<string> {
  const res = await bed.call<{ id: string; name: string }>("CreateContainer", {
    name,
    rootfs: bed.rootfs,
    args: ["sleep", "1000"],
    hostConfig,
    ...extra,
  });
  expect(res.name).toBe(name);
  expect(res.id).toMatch(/^[0-9a-f]{64}$/);
  return res.id;
}

async function streamTypes(id: string): Promise<string[]> {
  return (await bed.store.readStream(containerStreamId(id))).map((e) => e.type);
}

/** Expects `fn` to be refused with `code` and a message matching `message`, appending nothing. */
async function refused(fn: () => Promise<unknown>, code: status, message: string | RegExp): Promise<void> {
  const before = await bed.eventCount();
  const err = await fn().then(
    () => undefined,
    (e: unknown) => e as { code: number; details: string },
  );
  expect(err, "the request should have been refused").toBeDefined();
  expect({ code: status[err!.code], details: err!.details }).toMatchObject({
    code: status[code],
    details: typeof message === "string" ? message : expect.stringMatching(message),
  });
  expect(await bed.eventCount()).toBe(before);
}

describe("start flow", () => {
  it("dispatches StartContainer on ContainerIpcPrepared, records the agent's report, and the RPC returns running", async () => {
    const id = await create("web", { ipcMode: "shareable", shmSize: "128m" });
    const res = await bed.start("web", shareable(id));
    expect(res).toMatchObject({ id, alreadyRunning: false, failed: false, host: "h1" });
    expect(res.pid).toBeGreaterThan(0);

    const sent = bed.agent.calls.find((c) => c.command === "StartContainer" && c.payload.containerId === id)!;
    const prepared = (await bed.store.readStream(containerStreamId(id))).find((e) => e.type === "ContainerIpcPrepared")!;
    expect(sent.payload).toMatchObject({
      containerId: id,
      rootfs: { dir: bed.rootfs },
      args: ["sleep", "1000"],
      ipcPlan: shareable(id),
      runtime: { name: "runc", args: [] },
      attemptId: prepared.eventId,
    });
    // The built-in runtime goes as its bare name: the host that runs it finds it on its own PATH.
    expect(sent.payload.runtime.path).toBe("runc");
    // The waiting RPC and the durable dispatcher both see the preparation: one StartContainer is sent.
    await expect
      .poll(async () => {
        const c = await bed.nats.jsm.consumers.info(eventsStreamName(bed.nats.prefix), "api-dispatcher");
        return c.num_pending + c.num_ack_pending;
      })
      .toBe(0);
    expect(bed.agent.calls.filter((c) => c.command === "StartContainer" && c.payload.containerId === id)).toHaveLength(1);

    const started = (await bed.store.readStream(containerStreamId(id))).find((e) => e.type === "ContainerStarted")!;
    expect(started.data).toMatchObject({ pid: res.pid, configVersion: 1, runtime: { name: "runc" } });

    const info = (await bed.call<any>("InspectContainer", { container: "web" })).container;
    expect(info).toMatchObject({
      id,
      name: "web",
      host: "h1",
      effectiveIpcMode: "shareable",
      state: { status: "running", running: true, pid: res.pid },
      hostConfig: { ipcMode: "shareable", shmSize: String(128 * 1024 * 1024) },
      ipcGroup: { role: "owner", ownerId: id },
      configVersion: "1",
    });
  });

  it("records the start from the agent's answer when its report has not come, under the report's id", async () => {
    const id = await create("answered", { ipcMode: "private" });
    bed.agent.withholdStartedReports = true;
    try {
      const res = await bed.start("answered", { mode: "private", shmSizeBytes: 64 * 1024 * 1024 });
      expect(res).toMatchObject({ id, failed: false, host: "h1" });
      const started = (await bed.store.readStream(containerStreamId(id))).filter((e) => e.type === "ContainerStarted");
      const startedAt = (started[0]!.data as { startedAt: string }).startedAt;
      expect(started.map((e) => e.eventId)).toEqual([reportEventId(reportIds.containerStarted(id, res.pid, startedAt), 0)]);
      expect(started[0]!.data).toMatchObject({ pid: res.pid, runtime: { name: "runc" } });
    } finally {
      bed.agent.withholdStartedReports = false;
    }
  });

  it("answers a second start of a running container as already running, appending nothing", async () => {
    const before = await bed.eventCount();
    const res = await bed.call<any>("StartContainer", { container: "web" });
    expect(res).toMatchObject({ alreadyRunning: true, failed: false, host: "h1" });
    expect(await bed.eventCount()).toBe(before);
  });

  it("returns the agent's failure with Docker's exit code", async () => {
    await create("badcmd", {}, { args: ["nope"] });
    bed.agent.failNextStart("exec: \"nope\": executable file not found in $PATH", 127);
    const res = await bed.start("badcmd", privatePlan);
    expect(res).toMatchObject({ failed: true, exitCode: 127, error: expect.stringContaining("executable file not found") });
    const info = (await bed.call<any>("InspectContainer", { container: "badcmd" })).container;
    expect(info.state).toMatchObject({ status: "exited", exitCode: 127, running: false });
  });

  it("records a start on a host that does not answer as failed with exit code 125", async () => {
    const id = await create("lonely");
    const res = await bed.start(id, privatePlan, "ghost-host");
    expect(res).toMatchObject({ failed: true, exitCode: 125, error: "host ghost-host is not answering" });
  });
});

describe("create options beyond the domain's event", () => {
  it("records cwd and a pinned host on ContainerCreated and passes cwd to the agent", async () => {
    const id = await create("pinned", {}, { cwd: "/tmp", host: "h1" });
    const created = (await bed.store.readStream(containerStreamId(id)))[0]!;
    expect(created.data).toMatchObject({ cwd: "/tmp", host: "h1" });
    await bed.start("pinned", privatePlan);
    const sent = bed.agent.calls.find((c) => c.command === "StartContainer" && c.payload.containerId === id)!;
    expect(sent.payload.cwd).toBe("/tmp");
  });

  it("refuses a relative cwd and a malformed host name", async () => {
    await refused(
      () => bed.call("CreateContainer", { name: "x3", rootfs: bed.rootfs, args: ["true"], cwd: "tmp" }),
      status.INVALID_ARGUMENT,
      "invalid cwd: tmp (want an absolute path)",
    );
    await refused(
      () => bed.call("CreateContainer", { name: "x3", rootfs: bed.rootfs, args: ["true"], host: "bad host" }),
      status.INVALID_ARGUMENT,
      "invalid host name: bad host",
    );
  });
});

describe("refusals: right code, right message, nothing appended", () => {
  it("refuses a duplicate name as Docker does", async () => {
    const holder = (await bed.call<any>("InspectContainer", { container: "web" })).container.id;
    await refused(
      () => bed.call("CreateContainer", { name: "web", rootfs: bed.rootfs, args: ["true"] }),
      status.ALREADY_EXISTS,
      `Conflict. The container name "/web" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
    );
  });

  it("lets exactly one of several concurrent creates with one name win", async () => {
    const before = await bed.eventCount();
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => bed.call<{ id: string }>("CreateContainer", { name: "racer", rootfs: bed.rootfs, args: ["true"] })),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost.map((r) => (r.reason as { code: number }).code)).toEqual(Array(5).fill(status.ALREADY_EXISTS));
    expect(await bed.eventCount()).toBe(before + 1);
  });

  it("refuses bad IPC modes, sizes, a size on a member or with host", async () => {
    const mk = (hostConfig: object) => () => bed.call("CreateContainer", { name: "x1", rootfs: bed.rootfs, args: ["true"], hostConfig });
    await refused(mk({ ipcMode: "sharable" }), status.INVALID_ARGUMENT, /invalid IPC mode: sharable/);
    await refused(mk({ shmSize: "-1" }), status.INVALID_ARGUMENT, /invalid shm size: -1/);
    await refused(mk({ shmSize: "12q" }), status.INVALID_ARGUMENT, /invalid shm size: 12q/);
    await refused(mk({ ipcMode: "container:web", shmSize: "64m" }), status.INVALID_ARGUMENT, /shm size cannot be set for a container that joins/);
    await refused(mk({ ipcMode: "host", shmSize: "64m" }), status.INVALID_ARGUMENT, /shm size cannot be set with IPC mode host/);
    await refused(mk({ runtime: "kata" }), status.INVALID_ARGUMENT, "unknown or invalid runtime name: kata");
    await refused(
      () => bed.call("CreateContainer", { name: "bad name", rootfs: bed.rootfs, args: ["true"] }),
      status.INVALID_ARGUMENT,
      /Invalid container name \(bad name\)/,
    );
  });

  it("refuses creating a member of a container that does not exist, and checks the join at start, as Docker does (compose order)", async () => {
    const member = (name: string, ref: string, hostConfig: object = {}) => () =>
      bed.call<{ id: string }>("CreateContainer", { name, rootfs: bed.rootfs, args: ["true"], hostConfig: { ipcMode: `container:${ref}`, ...hostConfig } });
    await refused(member("member", "ghost"), status.NOT_FOUND, "No such container: ghost");
    // Created while its owner is only created: the join is checked when it starts.
    await create("idle", { ipcMode: "shareable" });
    const early = (await member("early-member", "idle")()).id;
    await refused(() => bed.call("StartContainer", { container: "early-member" }), status.FAILED_PRECONDITION, "container idle is not running");
    expect((await bed.call<any>("InspectContainer", { container: early })).container.state.status).toBe("created");
    await create("priv", { ipcMode: "private" });
    await bed.start("priv", privatePlan);
    await member("hopeful", "priv")();
    await refused(() => bed.call("StartContainer", { container: "hopeful" }), status.FAILED_PRECONDITION, "non-shareable IPC (hint: start priv with --ipc shareable)");
    // Once the owner runs, the member created before it starts.
    const idleId = (await bed.call<any>("InspectContainer", { container: "idle" })).container.id;
    await bed.start("idle", shareable(idleId));
    const memberPlan = { mode: "container" as const, ownerId: idleId, ownerPid: 1, shmSizeBytes: 64 * 1024 * 1024, shmMountPath: `/x/containers/${idleId}/mounts/shm` };
    expect(await bed.start("early-member", memberPlan)).toMatchObject({ failed: false });
    // The start request carries the owner the api resolved: no later step resolves the name.
    const request = (await bed.store.readStream(containerStreamId(early))).find((e) => e.type === "ContainerStartRequested")!;
    expect(request.data).toMatchObject({ ipcOwnerId: idleId });
  });

  it("removes a --rm member whose join is refused at start, as Docker does", async () => {
    await create("rm-owner", { ipcMode: "shareable" });
    const { id } = await bed.call<{ id: string }>("CreateContainer", {
      name: "rm-member",
      rootfs: bed.rootfs,
      args: ["true"],
      hostConfig: { ipcMode: "container:rm-owner", autoRemove: true },
    });
    await expect(bed.call("StartContainer", { container: id })).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, details: "container rm-owner is not running" });
    await expect(bed.call("InspectContainer", { container: id })).rejects.toMatchObject({ code: status.NOT_FOUND });
    await create("rm-member"); // its name is free again
  });

  it("re-checks the join at start", async () => {
    const ownerId = await create("owner2", { ipcMode: "shareable" });
    await bed.start("owner2", shareable(ownerId));
    await create("member2", { ipcMode: "container:owner2" });
    await bed.call("StopContainer", { container: "owner2", timeoutSeconds: 1 });
    await refused(() => bed.call("StartContainer", { container: "member2" }), status.FAILED_PRECONDITION, "container owner2 is not running");
  });

  it("refuses starting a paused container, and a checkpoint start without experimental", async () => {
    await bed.call("PauseContainer", { container: "priv" });
    await refused(
      () => bed.call("StartContainer", { container: "priv" }),
      status.FAILED_PRECONDITION,
      "cannot start a paused container, try unpause instead",
    );
    await refused(
      () => bed.call("StartContainer", { container: "priv", checkpoint: "cp1" }),
      status.FAILED_PRECONDITION,
      "checkpoint restore is only supported with experimental mode enabled",
    );
    await bed.call("UnpauseContainer", { container: "priv" });
  });

  it("refuses unknown containers and removing a running one without force", async () => {
    await refused(() => bed.call("InspectContainer", { container: "nobody" }), status.NOT_FOUND, "No such container: nobody");
    await refused(() => bed.call("StopContainer", { container: "nobody" }), status.NOT_FOUND, "No such container: nobody");
    const unknownId = "e".repeat(64);
    await refused(() => bed.call("StartContainer", { container: unknownId }), status.NOT_FOUND, `No such container: ${unknownId}`);
    await refused(
      () => bed.call("RemoveContainer", { container: "priv" }),
      status.FAILED_PRECONDITION,
      /^You cannot remove a running container [0-9a-f]{64}\. Stop the container before attempting removal or force remove$/,
    );
  });

  it("answers a start from the log, not from what this api created, when the container moved on in between", async () => {
    const id = await create("moved-on");
    // Another writer (another api instance, say) removes it between this api's create and start.
    const now = () => new Date().toISOString();
    await runContainerCommand({ store: bed.store }, { type: "RemoveContainer", data: { containerId: id, now: now(), force: false } });
    await runContainerCommand({ store: bed.store }, { type: "RecordRemoved", data: { containerId: id, now: now() } });
    await refused(() => bed.call("StartContainer", { container: id }), status.NOT_FOUND, `No such container: ${id}`);
  });
});

describe("lifecycle", () => {
  it("pauses, unpauses, kills and stops through the host, and Wait returns the exit code", async () => {
    const id = await create("life");
    await bed.start("life", privatePlan);
    await bed.call("PauseContainer", { container: "life" });
    expect((await bed.call<any>("InspectContainer", { container: "life" })).container.state).toMatchObject({ status: "paused", paused: true });
    expect(bed.agent.running.get(id)?.paused).toBe(true);
    await bed.call("UnpauseContainer", { container: "life" });
    expect(bed.agent.running.get(id)?.paused).toBe(false);

    await bed.call("KillContainer", { container: "life", signal: "SIGUSR1" });
    expect(bed.agent.calls.at(-1)).toEqual({ command: "KillContainer", payload: { containerId: id, signal: 10 } });

    const waited = bed.call<any>("WaitContainer", { container: "life" });
    await bed.call("StopContainer", { container: "life", timeoutSeconds: 2 });
    expect(await waited).toEqual({ exitCode: 143, error: "" });
    expect((await bed.call<any>("InspectContainer", { container: "life" })).container.state).toMatchObject({
      status: "exited",
      exitCode: 143,
    });
    expect(await streamTypes(id)).toEqual([
      "ContainerCreated",
      "ContainerStartRequested",
      "ContainerScheduled",
      "ContainerIpcPrepared",
      "ContainerStarted",
      "ContainerPaused",
      "ContainerUnpaused",
      "ContainerKillRequested",
      "ContainerStopRequested",
      "ContainerExited",
    ]);
    // Stop of a stopped container is Docker's "not modified": fine, nothing appended.
    const before = await bed.eventCount();
    await bed.call("StopContainer", { container: "life" });
    expect(await bed.eventCount()).toBe(before);
    await refused(() => bed.call("KillContainer", { container: "life" }), status.FAILED_PRECONDITION, /^Cannot kill container: life: Container [0-9a-f]{64} is not running$/);
    await refused(() => bed.call("KillContainer", { container: "nobody" }), status.NOT_FOUND, "Cannot kill container: nobody: No such container: nobody");
  });

  it("reads logs and runs exec on the container's host", async () => {
    await create("chatty");
    await bed.start("chatty", privatePlan);
    expect(Buffer.from((await bed.call<any>("ContainerLogs", { container: "chatty" })).output).toString()).toBe("hello\n");
    const ex = await bed.call<any>("ExecInContainer", { container: "chatty", args: ["echo", "hi"] });
    expect({ exitCode: ex.exitCode, stdout: Buffer.from(ex.stdout).toString(), stderr: Buffer.from(ex.stderr).toString() }).toEqual({
      exitCode: 3,
      stdout: "ran echo hi\n",
      stderr: "warn\n",
    });
    await refused(() => bed.call("ExecInContainer", { container: "life", args: ["true"] }), status.FAILED_PRECONDITION, /^Container [0-9a-f]{64} is not running$/);
  });

  it("removes a --rm container after its exit and frees its name", async () => {
    const id = await create("ephemeral", { autoRemove: true });
    await bed.start("ephemeral", privatePlan);
    const waited = bed.call<any>("WaitContainer", { container: "ephemeral", condition: "removed" });
    await bed.agent.exit(id, 0);
    expect(await waited).toEqual({ exitCode: 0, error: "" });
    expect(bed.agent.calls.some((c) => c.command === "DeleteContainer" && c.payload.containerId === id)).toBe(true);
    expect((await streamTypes(id)).slice(-3)).toEqual(["ContainerExited", "ContainerRemovalRequested", "ContainerRemoved"]);
    await expect(bed.call("InspectContainer", { container: id })).rejects.toMatchObject({ code: status.NOT_FOUND });
    // Its output outlives it briefly, by id, for a client that was attached to it.
    expect(Buffer.from((await bed.call<any>("ContainerLogs", { container: id })).output).toString()).toBe("hello\n");
    await expect(bed.call("ContainerLogs", { container: "ephemeral" })).rejects.toMatchObject({ code: status.NOT_FOUND });
    await create("ephemeral");
  });

  it("removes a --rm container whose start failed", async () => {
    const id = await create("failrm", { autoRemove: true });
    bed.agent.failNextStart("permission denied", 126);
    const res = await bed.start("failrm", privatePlan);
    expect(res).toMatchObject({ failed: true, exitCode: 126 });
    await bed.call("WaitContainer", { container: id, condition: "removed" }).catch((e: { code: number }) => {
      // Already gone by the time Wait looked it up: that is also removed.
      expect(e.code).toBe(status.NOT_FOUND);
    });
    await expect.poll(async () => (await streamTypes(id)).at(-1), { timeout: 10_000 }).toBe("ContainerRemoved");
  });

  it("refuses removing an owner with running members unless forced, then stops the members first", async () => {
    const ownerId = await create("db", { ipcMode: "shareable" });
    await bed.start("db", shareable(ownerId));
    const memberId = await create("app", { ipcMode: "container:db" });
    const memberPlan = (): IpcPlan => ({
      mode: "container",
      ownerId,
      ownerPid: bed.agent.running.get(ownerId)!.pid,
      shmSizeBytes: 64 * 1024 * 1024,
      shmMountPath: shareable(ownerId).mode === "shareable" ? `/var/lib/shoal/containers/${ownerId}/mounts/shm` : "",
    });
    await bed.start("app", memberPlan());
    const info = (await bed.call<any>("InspectContainer", { container: "db" })).container;
    expect(info.ipcGroup).toMatchObject({ role: "owner", memberIds: [memberId] });
    expect((await bed.call<any>("InspectContainer", { container: "app" })).container.ipcGroup).toMatchObject({
      role: "member",
      ownerId,
      memberIds: [],
    });

    await refused(
      () => bed.call("RemoveContainer", { container: "db" }),
      status.FAILED_PRECONDITION,
      /cannot remove container "db": it is the IPC owner of running containers \(app\)/,
    );
    await bed.call("RemoveContainer", { container: "db", force: true });
    const memberTypes = await streamTypes(memberId);
    expect(memberTypes.slice(-2)).toEqual(["ContainerStopRequested", "ContainerExited"]);
    // The owner's exit (killed by the forced DeleteContainer) may be recorded while it is being removed.
    const ownerTypes = await streamTypes(ownerId);
    expect(ownerTypes).toContain("ContainerRemovalRequested");
    expect(ownerTypes.at(-1)).toBe("ContainerRemoved");
    const order = bed.agent.calls.filter((c) => [ownerId, memberId].includes(c.payload.containerId)).map((c) => `${c.command}:${c.payload.containerId === ownerId ? "db" : "app"}`);
    // The removal worker may send DeleteContainer again (idempotent on the agent); the member stopped first.
    expect(order.indexOf("StopContainer:app")).toBeGreaterThanOrEqual(0);
    expect(order.indexOf("StopContainer:app")).toBeLessThan(order.indexOf("DeleteContainer:db"));
  });
});

describe("lost hosts", () => {
  it("removes a container that died with its host, though the host no longer answers", async () => {
    const doomed = bed.startAgent("h9");
    const id = await create("on-lost-host");
    await bed.start("on-lost-host", privatePlan, "h9");
    await doomed.stop();
    // What the scheduler records when h9 stops heartbeating.
    await runContainerCommand({ store: bed.store }, { type: "RecordDead", data: { containerId: id, now: new Date().toISOString(), reason: "host h9 lost" } });
    await bed.call("RemoveContainer", { container: "on-lost-host" });
    expect((await streamTypes(id)).slice(-3)).toEqual(["ContainerDied", "ContainerRemovalRequested", "ContainerRemoved"]);
  });
});

describe("queries", () => {
  it("lists with filters and pages with an opaque token", async () => {
    const running = await bed.call<any>("ListContainers", {});
    expect(running.containers.every((c: any) => ["running", "paused"].includes(c.state.status))).toBe(true);
    const all = await bed.call<any>("ListContainers", { all: true });
    expect(all.containers.length).toBeGreaterThan(running.containers.length);

    const pages: string[] = [];
    let token = "";
    do {
      const page = await bed.call<any>("ListContainers", { all: true, pageSize: 2, pageToken: token });
      expect(page.containers.length).toBeLessThanOrEqual(2);
      pages.push(...page.containers.map((c: any) => c.id));
      token = page.nextPageToken;
    } while (token !== "");
    expect(pages).toEqual(all.containers.map((c: any) => c.id));

    const exited = await bed.call<any>("ListContainers", { all: true, filters: { status: "exited" } });
    expect(exited.containers.map((c: any) => c.name)).toEqual(expect.arrayContaining(["life", "badcmd", "lonely"]));
    const byName = await bed.call<any>("ListContainers", { all: true, filters: { name: "chat" } });
    expect(byName.containers.map((c: any) => c.name)).toEqual(["chatty"]);
    const onHost = await bed.call<any>("ListContainers", { filters: { host: "h1" } });
    expect(onHost.containers.length).toBe(running.containers.length);
    await refused(() => bed.call("ListContainers", { filters: { colour: "red" } }), status.INVALID_ARGUMENT, /invalid filter 'colour'/);
    await refused(() => bed.call("ListContainers", { pageToken: "forged" }), status.INVALID_ARGUMENT, "invalid page token");
  });

  it("resolves a unique id prefix for every RPC", async () => {
    const id = (await bed.call<any>("InspectContainer", { container: "chatty" })).container.id;
    expect((await bed.call<any>("InspectContainer", { container: id.slice(0, 10) })).container.name).toBe("chatty");
    expect((await bed.call<any>("StartContainer", { container: `/${id.slice(0, 12)}` })).alreadyRunning).toBe(true);
  });

  it("serves Prometheus metrics with method and code labels, no container ids", async () => {
    const text = await (await fetch(`http://127.0.0.1:${bed.api.metricsPort}/metrics`)).text();
    expect(text).toMatch(/shoal_api_requests_total\{method="Containers\/CreateContainer",code="ALREADY_EXISTS"\} [1-9]\d*/);
    expect(text).toMatch(/shoal_api_start_duration_seconds_count\{outcome="running"\} \d+/);
    expect(text).toContain("shoal_api_request_duration_seconds_bucket");
    expect(text).not.toMatch(/[0-9a-f]{64}/);
  });
});

describe("rename", () => {
  it("moves the name in one transaction: the new one is taken, the old one free, the projection follows", async () => {
    const id = await create("before-rename");
    await create("rename-taken");
    await bed.call("RenameContainer", { container: "before-rename", newName: "after-rename" });
    expect((await bed.call<any>("InspectContainer", { container: "after-rename" })).container).toMatchObject({ id, name: "after-rename" });
    await refused(() => bed.call("InspectContainer", { container: "before-rename" }), status.NOT_FOUND, "No such container: before-rename");
    await create("before-rename");
    await refused(
      () => bed.call("RenameContainer", { container: "after-rename", newName: "rename-taken" }),
      status.ALREADY_EXISTS,
      /^Error when allocating new name: Conflict\. The container name "\/rename-taken" is already in use by container "[0-9a-f]{64}"/,
    );
    await refused(() => bed.call("RenameContainer", { container: "after-rename", newName: "after-rename" }), status.INVALID_ARGUMENT, "Renaming a container with the same name as its current name");
    await refused(
      () => bed.call("RenameContainer", { container: "after-rename", newName: "z" }),
      status.INVALID_ARGUMENT,
      "Error when allocating new name: Invalid container name (/z), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
    );
  });
});
