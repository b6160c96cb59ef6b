import { describe, expect, it } from "vitest";
import { FailedPreconditionError } from "../errors";
import { checkpointIncompatibility, checkpointPreflight, foldCheckpoint, parseCheckpointName } from "./checkpoint";
import type { CheckpointFacts, CheckpointHostFacts, PreflightContainer } from "./checkpoint";

const c = (id: string, kind: PreflightContainer["ipcMode"]["kind"], status = "running"): PreflightContainer => ({
  id,
  name: id,
  ipcMode: kind === "container" ? { kind, ref: "own" } : ({ kind } as PreflightContainer["ipcMode"]),
  status,
});

describe("checkpointPreflight (the DESIGN.md IPC table)", () => {
  it("allows private, none, and a shareable owner with no live members, alone", () => {
    expect(checkpointPreflight({ target: c("p", "private"), group: false, liveMembers: [] })).toEqual({ mode: "private", containerIds: ["p"], group: false });
    expect(checkpointPreflight({ target: c("n", "none"), group: false, liveMembers: [] })).toEqual({ mode: "none", containerIds: ["n"], group: false });
    expect(checkpointPreflight({ target: c("own", "shareable"), group: false, liveMembers: [c("m", "container", "exited")] })).toEqual({
      mode: "shareable",
      shmOwnerId: "own",
      containerIds: ["own"],
      group: false,
    });
  });

  it("a group: the owner first, then its live members", () => {
    expect(checkpointPreflight({ target: c("own", "shareable"), group: true, liveMembers: [c("m1", "container"), c("m2", "container")] })).toEqual({
      mode: "shareable",
      shmOwnerId: "own",
      containerIds: ["own", "m1", "m2"],
      group: true,
    });
  });

  it.each<[string, Parameters<typeof checkpointPreflight>[0], string]>([
    ["host IPC", { target: c("h", "host"), group: false, liveMembers: [] }, "cannot checkpoint container h: it uses the host's IPC namespace (--ipc host), whose state is outside the container (hint: run it with --ipc private or shareable)"],
    ["a member alone", { target: c("m", "container"), owner: c("own", "shareable"), group: false, liveMembers: [] }, "cannot checkpoint container m alone: it shares the IPC namespace of own (hint: checkpoint the group: --group own)"],
    ["a member with --group", { target: c("m", "container"), owner: c("own", "shareable"), group: true, liveMembers: [] }, "cannot checkpoint container m alone: it shares the IPC namespace of own (hint: checkpoint the group: --group own)"],
    ["an owner with a live member", { target: c("own", "shareable"), group: false, liveMembers: [c("m", "container")] }, "cannot checkpoint container own alone: m shares its IPC namespace (hint: checkpoint the group: --group own)"],
    ["--group on a private container", { target: c("p", "private"), group: true, liveMembers: [] }, "--group needs the owner of an IPC group: container p is not shareable (--ipc private)"],
    ["a stopped container", { target: c("s", "private", "exited"), group: false, liveMembers: [] }, "Container s not running"],
    ["a paused container", { target: c("s", "private", "paused"), group: false, liveMembers: [] }, "container s is paused, unpause the container before checkpointing it"],
    ["a group with a paused member", { target: c("own", "shareable"), group: true, liveMembers: [c("m", "container", "paused")] }, "container m of the group is paused, unpause it before checkpointing the group"],
  ])("refuses %s with a hint", (_what, input, message) => {
    expect(() => checkpointPreflight(input)).toThrow(new FailedPreconditionError(message));
  });
});

describe("checkpointIncompatibility", () => {
  const here: CheckpointHostFacts = { criuVersion: "4.2.1", kernel: "6.18.0-1", cpuFlags: ["avx", "fpu", "sse2"], arch: "x86_64" };
  it("none for the same host, or a newer CRIU and kernel with more CPU features", () => {
    expect(checkpointIncompatibility(here, here, "h")).toBeUndefined();
    expect(checkpointIncompatibility({ ...here, criuVersion: "4.2", kernel: "6.1.0", cpuFlags: ["fpu"] }, here, "h")).toBeUndefined();
  });
  it("names every difference", () => {
    expect(checkpointIncompatibility({ criuVersion: "4.3", kernel: "6.19.2", cpuFlags: ["avx512f", "fpu"], arch: "aarch64" }, here, "h2")).toBe(
      "checkpoint cannot be restored on host h2: architecture aarch64 ≠ x86_64; CRIU 4.2.1 is older than the checkpoint's 4.3; kernel 6.18.0-1 is older than the checkpoint's 6.19.2; CPU features missing here: avx512f",
    );
  });
});

describe("checkpoint names and streams", () => {
  it("takes Docker's names and refuses others", () => {
    expect(parseCheckpointName("cp-1.a_b")).toBe("cp-1.a_b");
    for (const bad of ["", "-x", "a/b", "a b", ".x"]) expect(() => parseCheckpointName(bad)).toThrow(/Invalid checkpoint ID/);
  });

  it("folds created → replicated → removed, and an import as replicated", () => {
    const facts = { containerId: "c", name: "cp", digest: "sha256:1" } as CheckpointFacts;
    expect(foldCheckpoint([{ type: "CheckpointCreated", data: facts }])).toEqual({ present: true, facts, replicated: false });
    expect(
      foldCheckpoint([
        { type: "CheckpointCreated", data: facts },
        { type: "CheckpointReplicated", data: { containerId: "c", name: "cp", digest: "sha256:1", replicatedAt: "t" } },
      ]),
    ).toEqual({ present: true, facts, replicated: true });
    expect(
      foldCheckpoint([
        { type: "CheckpointCreated", data: facts },
        { type: "CheckpointRemoved", data: { containerId: "c", name: "cp", digest: "sha256:1", removedAt: "t" } },
      ]),
    ).toEqual({ present: false });
    expect(foldCheckpoint([{ type: "CheckpointImported", data: { ...facts, importedAt: "t" } }])).toEqual({ present: true, facts, replicated: true });
  });
});
