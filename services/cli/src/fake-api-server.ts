import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Server, ServerCredentials, status } from "@grpc/grpc-js";
import type { ServerUnaryCall, ServerWritableStream, sendUnaryData, GrpcObject, ServiceClientConstructor } from "@grpc/grpc-js";
import { loadPackageDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";

/**
 * A stand-in for the api, for the CLI's int tests: the real `proto/shoal/v1` services
 * loaded with @grpc/proto-loader (a different decoder from the CLI's, so the wire is
 * checked too) over a real grpc-js server, with scripted behaviour:
 *
 * - CreateContainer refuses the name "taken" (ALREADY_EXISTS) and the IPC mode "bogus"
 *   (INVALID_ARGUMENT); otherwise stores the request.
 * - StartContainer fails the command "missing-binary" (127), "not-executable" (126) and
 *   "explode" (128); otherwise the container runs. Its output is `ran: <args>\n` and it
 *   exits with the value of its `EXIT` env var (default 0) as soon as it is waited for.
 * - WaitContainer with condition "next-exit" answers after the next StartContainer (the
 *   way `run` must use it: sent before the start); otherwise at once.
 * - Events/Subscribe serves `events` in order after `since_cursor`; with `until_time` it
 *   ends the stream, without it stays open (follow) after the kept events. A cursor
 *   below 100 is older than what is kept: OUT_OF_RANGE.
 * - Config: set with key "bogus" is INVALID_ARGUMENT; otherwise each change bumps the version.
 */

type Obj = Record<string, any>;

export interface FakeApi {
  addr: string;
  /** Every request received, in order, as proto-loader decoded it. */
  calls: Array<{ method: string; request: Obj }>;
  containers: Map<string, Obj>;
  events: Obj[];
  /** Appends an event and sends it to every open follow subscription. */
  publish(type: string): void;
  config: { version: number; json: Obj };
  stop(): Promise<void>;
}

const protoDir = fileURLToPath(new URL("../../../proto/", import.meta.url));

function fail(callback: sendUnaryData<unknown>, code: status, details: string): void {
  callback({ code, details, name: "Error", message: details, metadata: undefined as never });
}

function nowTimestamp(): Obj {
  const ms = Date.now();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

/** Starts the fake on `bind` (a grpc-js address: `127.0.0.1:0` picks a port, or `unix:/path`). */
export async function startFakeApi(bind = "127.0.0.1:0"): Promise<FakeApi> {
  const definition = loadSync(
    ["shoal/v1/containers.proto", "shoal/v1/checkpoints.proto", "shoal/v1/images.proto", "shoal/v1/events.proto", "shoal/v1/hosts.proto", "shoal/v1/config.proto"].map((f) => join(protoDir, f)),
    { keepCase: true, longs: String, defaults: true, includeDirs: [protoDir] },
  );
  const v1 = (loadPackageDefinition(definition).shoal as GrpcObject).v1 as GrpcObject;
  const service = (name: string) => (v1[name] as ServiceClientConstructor).service;

  const calls: FakeApi["calls"] = [];
  const containers = new Map<string, Obj>();
  const config = { version: 1, json: { "default-ipc-mode": "private", experimental: false } as Obj };
  const events: Obj[] = ["ContainerCreated", "ContainerStartRequested", "ContainerScheduled", "ContainerStarted", "ContainerExited"].map(
    (type, i) => ({
      cursor: String(101 + i),
      event_id: `00000000-0000-4000-8000-00000000000${i}`,
      type,
      stream_id: `container-${"c".repeat(64)}`,
      stream_version: String(i + 1),
      recorded_at: { seconds: String(1_763_900_000 + i), nanos: 0 },
      data_json: JSON.stringify({ n: i }),
      metadata_json: "{}",
      schema_version: 1,
    }),
  );

  const followers = new Set<ServerWritableStream<Obj, unknown>>();
  const find = (ref: string): Obj | undefined =>
    containers.get(ref) ?? [...containers.values()].find((c) => c.name === ref || c.id.startsWith(ref));
  const unary =
    (method: string, handler: (request: Obj, callback: sendUnaryData<unknown>) => void) =>
    (call: ServerUnaryCall<Obj, unknown>, callback: sendUnaryData<unknown>) => {
      calls.push({ method, request: call.request });
      handler(call.request, callback);
    };
  const withContainer =
    (method: string, handler: (c: Obj, request: Obj, callback: sendUnaryData<unknown>) => void) =>
    unary(method, (request, callback) => {
      const c = find(request.container);
      if (c === undefined) return fail(callback, status.NOT_FOUND, `No such container: ${request.container}`);
      handler(c, request, callback);
    });

  const info = (c: Obj): Obj => ({
    id: c.id,
    name: c.name,
    created_at: c.created_at,
    state: c.state,
    host_config: c.request.host_config,
    effective_ipc_mode: c.request.host_config.ipc_mode || "private",
    effective_shm_size_bytes: "67108864",
    host: "h1",
    ipc_group:
      c.request.host_config.ipc_mode === "shareable"
        ? { owner_id: c.id, member_ids: [], role: "owner", shm_size_bytes: "67108864", shm_mount_path: `/var/lib/shoal/containers/${c.id}/mounts/shm` }
        : null,
    rootfs: c.request.rootfs,
    image: c.request.image,
    args: c.request.args,
    env: c.request.env,
    runtime: { name: "runc", path: "/usr/bin/runc", args: [] },
    config_version: String(config.version),
  });

  const server = new Server();
  server.addService(service("Containers"), {
    CreateContainer: unary("CreateContainer", (request, callback) => {
      if (request.name === "taken") return fail(callback, status.ALREADY_EXISTS, 'Conflict. The container name "/taken" is already in use');
      if (request.host_config?.ipc_mode === "bogus") return fail(callback, status.INVALID_ARGUMENT, 'invalid IPC mode "bogus"');
      const id = createHash("sha256").update(`${containers.size}:${JSON.stringify(request)}`).digest("hex");
      const name = request.name || `fake_${containers.size}`;
      containers.set(id, { id, name, request, created_at: nowTimestamp(), state: { status: "created" } });
      callback(null, { id, name });
    }),
    StartContainer: withContainer("StartContainer", (c, _request, callback) => {
      const command = c.request.args[0];
      const failures: Record<string, [number, string]> = {
        "missing-binary": [127, 'exec: "missing-binary": executable file not found in $PATH'],
        "not-executable": [126, 'exec: "not-executable": permission denied'],
        explode: [128, "runtime failed: the shim exploded"],
      };
      const failure = failures[command];
      const waiters: Array<() => void> = c.nextExitWaiters ?? [];
      c.nextExitWaiters = [];
      if (failure !== undefined) {
        c.state = { status: "exited", exit_code: failure[0], error: failure[1] };
        callback(null, { id: c.id, failed: true, exit_code: failure[0], error: failure[1] });
        for (const w of waiters) w();
        return;
      }
      const exitEnv = (c.request.env as string[]).find((e) => e.startsWith("EXIT="));
      c.exitCode = exitEnv === undefined ? 0 : Number(exitEnv.slice(5));
      c.output = `ran: ${(c.request.args as string[]).join(" ")}\n`;
      c.state = { status: "running", running: true, pid: 4242, started_at: nowTimestamp() };
      callback(null, { id: c.id, pid: 4242, host: "h1" });
      for (const w of waiters) w();
    }),
    WaitContainer: withContainer("WaitContainer", (c, request, callback) => {
      const answer = () => {
        if (c.state.status === "running") {
          c.state = { status: "exited", exit_code: c.exitCode ?? 0, started_at: c.state.started_at, finished_at: nowTimestamp() };
        }
        callback(null, { exit_code: c.state.exit_code ?? 0, error: c.state.error ?? "" });
      };
      // next-exit: answered by the next StartContainer (the fake's containers exit at once).
      if (request.condition === "next-exit") (c.nextExitWaiters ??= []).push(answer);
      else answer();
    }),
    ContainerLogs: withContainer("ContainerLogs", (c, _request, callback) => callback(null, { output: Buffer.from(c.output ?? "") })),
    InspectContainer: withContainer("InspectContainer", (c, _request, callback) => callback(null, { container: info(c) })),
    ListContainers: unary("ListContainers", (request, callback) => {
      const listed = [...containers.values()].filter((c) => request.all || c.state.status === "running");
      callback(null, { containers: listed.map(info) });
    }),
    StopContainer: withContainer("StopContainer", (_c, _r, callback) => callback(null, {})),
    KillContainer: withContainer("KillContainer", (_c, _r, callback) => callback(null, {})),
    PauseContainer: withContainer("PauseContainer", (c, _r, callback) => {
      if (c.state.status !== "running") return fail(callback, status.FAILED_PRECONDITION, `container ${c.name} is not running`);
      callback(null, {});
    }),
    UnpauseContainer: withContainer("UnpauseContainer", (_c, _r, callback) => callback(null, {})),
    RemoveContainer: withContainer("RemoveContainer", (c, request, callback) => {
      if (c.state.status === "running" && !request.force) {
        return fail(callback, status.FAILED_PRECONDITION, `cannot remove container ${c.name}: container is running: stop the container before removing or force remove`);
      }
      containers.delete(c.id);
      callback(null, {});
    }),
    ExecInContainer: withContainer("ExecInContainer", (_c, request, callback) =>
      callback(null, { exit_code: 7, stdout: Buffer.from(`out: ${request.args.join(" ")}\n`), stderr: Buffer.from("err: oops\n") }),
    ),
  });
  server.addService(service("Events"), {
    Subscribe: (call: ServerWritableStream<Obj, unknown>) => {
      calls.push({ method: "Subscribe", request: call.request });
      const after = call.request.since_cursor === "" ? 0 : Number(call.request.since_cursor);
      if (call.request.since_cursor !== "" && after < 100) {
        call.emit("error", { code: status.OUT_OF_RANGE, details: `cursor ${after} is older than the oldest kept event (101)` });
        return;
      }
      for (const event of events) if (Number(event.cursor) > after) call.write(event);
      if (call.request.until_time) return call.end();
      // Without until_time the stream stays open (follow) until the client goes away.
      followers.add(call);
      call.on("cancelled", () => followers.delete(call));
      call.on("close", () => followers.delete(call));
    },
  });
  server.addService(service("Hosts"), {
    ListHosts: unary("ListHosts", (_request, callback) =>
      callback(null, {
        hosts: [{ name: "h1", status: "ready", last_heartbeat: nowTimestamp(), capabilities_json: '{"cgroup":1}', memory_bytes: String(2 ** 33), memory_reserved_bytes: "0", containers: containers.size }],
      }),
    ),
  });
  const configResponse = (changed: boolean) => ({ version: String(config.version), config_json: JSON.stringify(config.json), changed });
  server.addService(service("Config"), {
    ShowConfig: unary("ShowConfig", (_request, callback) => callback(null, configResponse(false))),
    SetConfig: unary("SetConfig", (request, callback) => {
      const next = { ...config.json };
      for (const assignment of request.assignments as string[]) {
        const [key, value] = [assignment.slice(0, assignment.indexOf("=")), assignment.slice(assignment.indexOf("=") + 1)];
        if (key === "bogus") return fail(callback, status.INVALID_ARGUMENT, `unknown config key "bogus"`);
        next[key] = value === "true" ? true : value === "false" ? false : value;
      }
      const changed = JSON.stringify(next) !== JSON.stringify(config.json);
      if (changed) {
        config.json = next;
        config.version++;
      }
      callback(null, configResponse(changed));
    }),
    ReloadConfig: unary("ReloadConfig", (request, callback) => {
      let next: Obj;
      try {
        next = JSON.parse(request.config_json) as Obj;
      } catch (err) {
        return fail(callback, status.INVALID_ARGUMENT, `daemon.json is not JSON: ${(err as Error).message}`);
      }
      config.json = next;
      config.version++;
      callback(null, configResponse(true));
    }),
  });

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(bind, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    addr: bind.startsWith("unix:") ? bind : `127.0.0.1:${port}`,
    calls,
    containers,
    events,
    publish(type) {
      const last = events[events.length - 1]!;
      const event = { ...last, type, cursor: String(Number(last.cursor) + 1), stream_version: String(Number(last.stream_version) + 1) };
      events.push(event);
      for (const call of followers) call.write(event);
    },
    config,
    stop: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        // Open follow streams would hold a graceful shutdown forever.
        setTimeout(() => server.forceShutdown(), 1000).unref();
      }),
  };
}
