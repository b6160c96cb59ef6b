import * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { service as healthService } from "grpc-health-check";
import { publishHostReport, serveHostCommands } from "@shoal/bus";
import { containerStreamId } from "@shoal/domain";
import type { IpcPlan } from "@shoal/domain";
import { reportIds } from "@shoal/host-protocol";
import { createContainersProjection } from "./containers-projection";
import { reportEventId } from "./report-recorder";
import { loadShoalProtos } from "./health/shoal-protos";
import { resolveProtoDir } from "./server";
import { createApiTestBed } from "./testing/api-test-bed";
import type { ApiTestBed } from "./testing/api-test-bed";

// What the api does around the Containers RPCs: redelivered and stray reports change
// nothing, OOM reaches the exit, config changes take effect without a restart, the
// projection rebuilds from the log, a start with no outcome is UNAVAILABLE, and the
// other services share the port.

let bed: ApiTestBed;
beforeAll(async () => {
  bed = await createApiTestBed();
});
afterAll(async () => {
  await bed?.close();
});

const privatePlan: IpcPlan = { mode: "private", shmSizeBytes: 64 * 1024 * 1024 };

function client(service: string): grpc.Client & Record<string, any> {
  const def = loadShoalProtos(resolveProtoDir());
  const Ctor = grpc.makeGenericClientConstructor(def[service] as grpc.ServiceDefinition, service);
  return new Ctor(bed.api.address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
}

function unary<T = any>(c: Record<string, any>, method: string, req: object): Promise<T> {
  return new Promise((resolve, reject) => c[method](req, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res))));
}

async function create(name: string, hostConfig: object = {}): Promise<string> {
  return (await bed.call<{ id: string }>("CreateContainer", { name, rootfs: bed.rootfs, args: ["sleep", "1"], hostConfig })).id;
}

async function types(id: string): Promise<string[]> {
  return (await bed.store.readStream(containerStreamId(id))).map((e) => e.type);
}

/** Publishes a report as the agent would, then waits until the recorder has taken it (its durable acked it). */
async function report(type: string, reportId: string, payload: object): Promise<void> {
  await publishHostReport(bed.nats.js, { prefix: bed.nats.prefix, host: "h1", type, reportId, payload });
  await expect
    .poll(async () => (await bed.nats.jsm.consumers.info(`${bed.nats.prefix.toUpperCase()}_REPORTS`, "api-reports")).num_ack_pending + (await bed.nats.jsm.consumers.info(`${bed.nats.prefix.toUpperCase()}_REPORTS`, "api-reports")).num_pending, { timeout: 10_000 })
    .toBe(0);
}

describe("report recorder", () => {
  it("appends nothing for a repeated fact or a container it does not know, and keeps going", async () => {
    const id = await create("rep");
    const res = await bed.start("rep", privatePlan);
    const before = await bed.eventCount();
    // The same fact under a new report id (beyond JetStream's dedup): the log refuses it.
    await report("ContainerStarted", `${id}.started.${res.pid}.again`, {
      containerId: id,
      pid: res.pid,
      ipcNamespaceInode: 1,
      runtime: { name: "runc", path: "/usr/sbin/runc", args: [], binaryPath: "/usr/sbin/runc" },
      startedAt: new Date().toISOString(),
    });
    await report("ContainerExited", "ghost.exited.1", { containerId: "f".repeat(64), pid: 1, exitCode: 0, exitedAt: new Date().toISOString() });
    await report("ContainerExited", "garbage.exited.1", { containerId: "not-an-id", pid: 1, exitCode: 0 });
    await report("HostRegistered", "h1.registered.1", { host: "h1", capabilities: {}, startedAt: new Date().toISOString() });
    expect(await bed.eventCount()).toBe(before);

    // The recorder still records real facts after those.
    await bed.agent.exit(id, 0);
    await expect.poll(async () => (await types(id)).at(-1), { timeout: 10_000 }).toBe("ContainerExited");
  });

  it("records a start once, with the report's id, whichever of the agent's answer and its report comes first", async () => {
    const startedEvents = async (id: string) => (await bed.store.readStream(containerStreamId(id))).filter((e) => e.type === "ContainerStarted");
    // The fake agent publishes its report before it answers: the report usually comes first.
    const first = await create("report-first");
    const a = await bed.start("report-first", privatePlan);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const once = await startedEvents(first);
    expect(once).toHaveLength(1);
    const startedAtOf = (e: { data: unknown }) => (e.data as { startedAt: string }).startedAt;
    expect(once[0]!.eventId).toBe(reportEventId(reportIds.containerStarted(first, a.pid, startedAtOf(once[0]!)), 0));

    // The answer first: the report's copy, delivered afterwards, finds its id and appends nothing.
    bed.agent.withholdStartedReports = true;
    try {
      const second = await create("answer-first");
      const b = await bed.start("answer-first", privatePlan);
      const recorded = await startedEvents(second);
      expect(recorded.map((e) => e.eventId)).toEqual([reportEventId(reportIds.containerStarted(second, b.pid, startedAtOf(recorded[0]!)), 0)]);
      const before = await bed.eventCount();
      await report("ContainerStarted", reportIds.containerStarted(second, b.pid, startedAtOf(recorded[0]!)), {
        containerId: second,
        pid: b.pid,
        ipcNamespaceInode: 1,
        runtime: { name: "runc", path: "/usr/sbin/runc", args: [], binaryPath: "/usr/sbin/runc" },
        startedAt: new Date().toISOString(),
      });
      expect(await bed.eventCount()).toBe(before);
      expect(await startedEvents(second)).toHaveLength(1);
    } finally {
      bed.agent.withholdStartedReports = false;
    }
  });

  it("records an exit after a ContainerOom of that process as oomKilled", async () => {
    const id = await create("hungry");
    const res = await bed.start("hungry", privatePlan);
    await report("ContainerOom", reportIds.containerOom(id, res.pid, Date.now()), { containerId: id, pid: res.pid, at: new Date().toISOString() });
    await bed.agent.exit(id, 137);
    await expect.poll(async () => (await types(id)).at(-1), { timeout: 10_000 }).toBe("ContainerExited");
    const exited = (await bed.store.readStream(containerStreamId(id))).at(-1)!;
    expect(exited.data).toMatchObject({ exitCode: 137, oomKilled: true });
    expect((await bed.call<any>("InspectContainer", { container: "hungry" })).container.state).toMatchObject({ oomKilled: true, exitCode: 137 });
    // The incarnation's OOM is forgotten with its exit: a later one is not OOM-killed by it.
    const rows = await bed.database.db.selectFrom("container_oom_reports").selectAll().where("container_id", "=", id).execute();
    expect(rows).toEqual([]);
  });
  it("records an exit that arrives before its start's report once the start is recorded", async () => {
    // A host whose agent takes the start but reports it only when the test says so.
    const quiet = serveHostCommands(bed.nats.nc, { prefix: bed.nats.prefix, host: "quiet", handlers: { StartContainer: async () => ({}) } });
    try {
      const id = await create("late");
      const pending = bed.call<any>("StartContainer", { container: "late" });
      await bed.schedule(id, privatePlan, "quiet");
      const { seq } = await publishHostReport(bed.nats.js, {
        prefix: bed.nats.prefix,
        host: "quiet",
        type: "ContainerExited",
        reportId: reportIds.containerExited(id, 77),
        payload: { containerId: id, pid: 77, exitCode: 3, exitedAt: new Date().toISOString() },
      });
      const reports = `${bed.nats.prefix.toUpperCase()}_REPORTS`;
      // The recorder has seen the exit (and put it back for later).
      await expect.poll(async () => (await bed.nats.jsm.consumers.info(reports, "api-reports")).delivered.stream_seq, { timeout: 10_000 }).toBeGreaterThanOrEqual(seq);
      await expect.poll(async () => (await bed.nats.jsm.consumers.info(reports, "api-reports")).num_ack_pending, { timeout: 10_000 }).toBe(1);
      expect(await types(id)).not.toContain("ContainerExited");
      const quietStart = new Date().toISOString();
      await publishHostReport(bed.nats.js, {
        prefix: bed.nats.prefix,
        host: "quiet",
        type: "ContainerStarted",
        reportId: reportIds.containerStarted(id, 77, quietStart),
        payload: { containerId: id, pid: 77, ipcNamespaceInode: 1, runtime: { name: "runc", path: "/usr/sbin/runc", args: [], binaryPath: "/usr/sbin/runc" }, startedAt: quietStart },
      });
      expect(await pending).toMatchObject({ pid: 77, host: "quiet" });
      await expect.poll(async () => (await types(id)).slice(-2), { timeout: 15_000 }).toEqual(["ContainerStarted", "ContainerExited"]);
    } finally {
      await quiet.stop();
    }
  });
});

describe("start dispatcher", () => {
  it("does not send StartContainer again when a prepared event is redelivered after the start", async () => {
    const id = await create("once");
    await bed.start("once", privatePlan);
    const sends = () => bed.agent.calls.filter((c) => c.command === "StartContainer" && c.payload.containerId === id).length;
    expect(sends()).toBe(1);
    // The same event again (as after a lost ack, or a relay republish beyond the dedup window).
    const stream = `${bed.nats.prefix.toUpperCase()}_EVENTS`;
    const info = await bed.nats.jsm.consumers.info(stream, "api-dispatcher");
    expect(info.delivered.stream_seq).toBeGreaterThan(0);
    const events = await bed.store.readStream(containerStreamId(id));
    const prepared = events.find((e) => e.type === "ContainerIpcPrepared")!;
    await bed.nats.js.publish(`${bed.nats.prefix}.evt.container.ContainerIpcPrepared`, JSON.stringify({
      ...prepared,
      globalPosition: prepared.globalPosition.toString(),
      recordedAt: prepared.recordedAt.toISOString(),
    }), { msgID: `replay-${prepared.eventId}` });
    await expect.poll(async () => (await bed.nats.jsm.consumers.info(stream, "api-dispatcher")).num_pending, { timeout: 10_000 }).toBe(0);
    await expect.poll(async () => (await bed.nats.jsm.consumers.info(stream, "api-dispatcher")).num_ack_pending, { timeout: 10_000 }).toBe(0);
    expect(sends()).toBe(1);
  });

  it("answers UNAVAILABLE when no outcome is recorded within the start timeout, and the start stays pending", async () => {
    // Its own api with a short start timeout; nobody schedules the start.
    const quick = await createApiTestBed({ timeouts: { startMs: 1_500 } });
    try {
      await quick.call("CreateContainer", { name: "stuck", rootfs: quick.rootfs, args: ["true"] });
      await expect(quick.call("StartContainer", { container: "stuck" })).rejects.toMatchObject({
        code: status.UNAVAILABLE,
        details: "start of container stuck: no answer within 1500 ms",
      });
      expect((await quick.call<any>("InspectContainer", { container: "stuck" })).container.state.status).toBe("starting");
    } finally {
      await quick.close();
    }
  });
});

describe("daemon config", () => {
  it("takes a config change made through the Config service without a restart", async () => {
    const config = client("shoal.v1.Config");
    try {
      await expect(bed.call("StartContainer", { container: "rep", checkpoint: "cp" })).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });
      const changed = await unary(config, "SetConfig", { assignments: ["experimental=true", "allowed-rootfs-roots=/nonexistent-root"] });
      expect(changed).toMatchObject({ changed: true, version: "2" });
      // Refused by the new allowed-rootfs-roots: the api holds the new snapshot.
      await expect
        .poll(() =>
          bed.call("CreateContainer", { name: "outside", rootfs: bed.rootfs, args: ["true"] }).then(
            () => "created",
            (e: grpc.ServiceError) => `${status[e.code]}: ${e.details}`,
          ),
        )
        .toBe(`FAILED_PRECONDITION: rootfs ${bed.rootfs} is not under an allowed root (allowed-rootfs-roots: /nonexistent-root)`);
      const id = (await bed.call<any>("InspectContainer", { container: "rep" })).container.id;
      // With experimental on, a start from a checkpoint the container lacks is NOT_FOUND: never a fresh start.
      const before = await bed.store.readStream(containerStreamId(id));
      await expect(bed.call("StartContainer", { container: "rep", checkpoint: "cp" })).rejects.toMatchObject({
        code: status.NOT_FOUND,
        details: "checkpoint cp does not exist for container /rep",
      });
      expect(await bed.store.readStream(containerStreamId(id))).toHaveLength(before.length);
      const pending = bed.call<any>("StartContainer", { container: "rep" });
      await bed.schedule(id, privatePlan);
      expect(await pending).toMatchObject({ failed: false });
      const started = (await bed.store.readStream(containerStreamId(id))).filter((e) => e.type === "ContainerStarted").at(-1)!;
      expect(started.data).toMatchObject({ configVersion: 2 });
    } finally {
      await unary(config, "SetConfig", { assignments: ["experimental=false", "allowed-rootfs-roots="] });
      config.close();
    }
  });

  it("a start uses the config snapshot it was requested under, however the config moves before it is dispatched (RCU)", async () => {
    const config = client("shoal.v1.Config");
    try {
      const withAlt = await unary(config, "ReloadConfig", { configJson: JSON.stringify({ runtimes: { alt: { path: "/usr/sbin/runc", runtimeArgs: ["--debug"] } } }) });
      await expect.poll(async () => (await bed.call<any>("CreateContainer", { name: "rcu-probe", rootfs: bed.rootfs, args: ["true"], hostConfig: { runtime: "alt" } }).then(() => "ok", (e: grpc.ServiceError) => e.details))).toBe("ok");
      const id = await create("rcu", { runtime: "alt" });
      const pending = bed.call<any>("StartContainer", { container: "rcu" });
      await expect.poll(async () => (await types(id)).includes("ContainerStartRequested")).toBe(true);
      // The runtime goes away before the start is placed and dispatched.
      const without = await unary(config, "ReloadConfig", { configJson: "{}" });
      expect(Number(without.version)).toBe(Number(withAlt.version) + 1);
      await bed.schedule(id, privatePlan);
      expect(await pending).toMatchObject({ failed: false });
      const events = await bed.store.readStream(containerStreamId(id));
      expect(events.find((e) => e.type === "ContainerStartRequested")!.data).toMatchObject({ configVersion: Number(withAlt.version) });
      expect(events.find((e) => e.type === "ContainerStarted")!.data).toMatchObject({ configVersion: Number(withAlt.version) });
      const sent = bed.agent.calls.find((c) => c.command === "StartContainer" && c.payload.containerId === id)!;
      expect(sent.payload.runtime).toEqual({ name: "alt", path: "/usr/sbin/runc", args: ["--debug"] });
    } finally {
      await unary(config, "ReloadConfig", { configJson: "{}" });
      config.close();
    }
  });
});

describe("containers projection", () => {
  it("rebuilds from the log to the same rows", async () => {
    const rows = () => bed.database.db.selectFrom("containers").selectAll().orderBy("id").execute();
    await bed.call("ListContainers", { all: true });
    const before = await rows();
    expect(before.length).toBeGreaterThanOrEqual(3);
    const runner = createContainersProjection({ db: bed.database.db, pool: bed.database.pool });
    expect(await runner.rebuild()).toBeGreaterThan(0);
    expect(await rows()).toEqual(before);
    const names = await bed.database.db.selectFrom("container_names").select(["name", "container_id"]).orderBy("name").execute();
    expect(names.map((n) => n.container_id).sort()).toEqual(before.map((r) => r.id).sort());
  });
});

describe("one port", () => {
  it("serves gRPC health for every service on the api's port", async () => {
    const Health = grpc.makeGenericClientConstructor(healthService, "Health");
    const health = new Health(bed.api.address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
    try {
      for (const service of ["shoal.v1.Containers", "shoal.v1.Events", "shoal.v1.Config", "shoal.v1.Hosts"]) {
        expect(await unary(health, "check", { service })).toMatchObject({ status: "SERVING" });
      }
      expect(await unary(health, "check", { service: "" })).toMatchObject({ status: "SERVING" });
    } finally {
      health.close();
    }
  });
});
