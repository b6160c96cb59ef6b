import { describe, expect, it } from "vitest";
import { decodeEnvelope } from "./event-stream";
import { packAny } from "./proto";

const timestamp = { seconds: 1_700_000_000, nanos: 500_000_000 };

function envelope(topic: string, typeName: string, payload: Record<string, unknown>) {
  return { timestamp, namespace: "shoal", topic, event: packAny(typeName, payload) };
}

describe("decodeEnvelope", () => {
  it("decodes an init exit (id == container id) with execId empty", () => {
    const e = decodeEnvelope(
      envelope("/tasks/exit", "containerd.events.TaskExit", {
        containerId: "c1",
        id: "c1",
        pid: 42,
        exitStatus: 3,
        exitedAt: { seconds: 1_700_000_001, nanos: 0 },
      }),
    );
    expect(e).toEqual({
      type: "task-exit",
      namespace: "shoal",
      topic: "/tasks/exit",
      timestamp: new Date(1_700_000_000_500),
      containerId: "c1",
      execId: "",
      pid: 42,
      exitStatus: 3,
      exitedAt: new Date(1_700_000_001_000),
    });
  });

  it("decodes an exec exit with its exec id", () => {
    const e = decodeEnvelope(envelope("/tasks/exit", "containerd.events.TaskExit", { containerId: "c1", id: "e1", pid: 7, exitStatus: 0 }));
    expect(e).toMatchObject({ type: "task-exit", execId: "e1", exitStatus: 0 });
  });

  it.each([
    ["containerd.events.TaskCreate", { containerId: "c1", pid: 9 }, { type: "task-create", pid: 9 }],
    ["containerd.events.TaskStart", { containerId: "c1", pid: 9 }, { type: "task-start", pid: 9 }],
    ["containerd.events.TaskOOM", { containerId: "c1" }, { type: "task-oom" }],
    ["containerd.events.TaskPaused", { containerId: "c1" }, { type: "task-paused" }],
    ["containerd.events.TaskResumed", { containerId: "c1" }, { type: "task-resumed" }],
    ["containerd.events.TaskExecAdded", { containerId: "c1", execId: "e1" }, { type: "task-exec-added", execId: "e1" }],
    ["containerd.events.TaskExecStarted", { containerId: "c1", execId: "e1", pid: 5 }, { type: "task-exec-started", execId: "e1", pid: 5 }],
    ["containerd.events.TaskDelete", { containerId: "c1", id: "", pid: 9, exitStatus: 1 }, { type: "task-delete", execId: "", exitStatus: 1 }],
  ])("decodes %s", (typeName, payload, expected) => {
    expect(decodeEnvelope(envelope("/tasks/x", typeName, payload))).toMatchObject({ containerId: "c1", ...expected });
  });

  it("skips payload types it does not know", () => {
    expect(decodeEnvelope({ timestamp, namespace: "shoal", topic: "/containers/create", event: { type_url: "containerd.events.ContainerCreate", value: Buffer.alloc(0) } })).toBeUndefined();
    expect(decodeEnvelope({ timestamp, namespace: "shoal", topic: "/x", event: null })).toBeUndefined();
  });
});
