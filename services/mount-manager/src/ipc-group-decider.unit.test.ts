import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { FailedPreconditionError, InternalError } from "@shoal/domain";
import { DeciderSpecification } from "@shoal/domain/testing";
import { ipcGroupDecider } from "./ipc-group-decider";
import type { IpcGroupCommand, IpcGroupEvent } from "./ipc-group-decider";

const OWNER = "b".repeat(64);
const M1 = "1".repeat(64);
const M2 = "2".repeat(64);
const now = "2026-01-01T00:00:00.000Z";
const path = `/var/lib/shoal/containers/${OWNER}/mounts/shm`;
const spec = DeciderSpecification.for(ipcGroupDecider);

const form = (host = "h1", size = 1024): IpcGroupCommand => ({
  type: "FormIpcGroup",
  data: { ownerId: OWNER, host, shmSizeBytes: size, shmMountPath: path, now },
});
const formed = (host = "h1", size = 1024): IpcGroupEvent => ({
  type: "IpcGroupFormed",
  data: { ownerId: OWNER, host, shmSizeBytes: size, shmMountPath: path, formedAt: now },
});
const created = (host = "h1", size = 1024): IpcGroupEvent => ({
  type: "ShmMountCreated",
  data: { ownerId: OWNER, host, path, sizeBytes: size, createdAt: now },
});
const join = (m: string): IpcGroupCommand => ({ type: "JoinIpcGroup", data: { memberId: m, now } });
const joined = (m: string): IpcGroupEvent => ({ type: "IpcGroupMemberJoined", data: { ownerId: OWNER, memberId: m, joinedAt: now } });
const leave = (m: string): IpcGroupCommand => ({ type: "LeaveIpcGroup", data: { memberId: m, reason: "ContainerExited", now } });
const left = (m: string): IpcGroupEvent => ({
  type: "IpcGroupMemberLeft",
  data: { ownerId: OWNER, memberId: m, reason: "ContainerExited", leftAt: now },
});
const release = (ownerLive: boolean): IpcGroupCommand => ({ type: "ReleaseShmMount", data: { ownerLive, now } });
const removed: IpcGroupEvent = { type: "ShmMountRemoved", data: { ownerId: OWNER, host: "h1", path, removedAt: now } };

describe("IPC group decider", () => {
  it("forms a group with its shm mount", () => {
    spec.given([]).when(form()).then([formed(), created()]);
  });

  it("forming again while mounted with the same mount records nothing (redelivery, owner restart)", () => {
    spec.given([formed(), created()]).when(form()).thenNothingHappened();
  });

  it("refuses to form on another host or size while members keep the mount", () => {
    spec.given([formed(), created(), joined(M1)]).when(form("h2")).thenThrows(FailedPreconditionError, /still mounted on host h1/);
    spec.given([formed(), created(), joined(M1)]).when(form("h1", 2048)).thenThrows(FailedPreconditionError, /1024 bytes/);
  });

  it("with no member holding it, a leftover mount is superseded by the owner's new run", () => {
    spec.given([formed(), created(), joined(M1), left(M1)]).when(form("h2", 2048)).then([formed("h2", 2048), created("h2", 2048)]);
  });

  it("forms again after the mount was removed (the owner restarts), anywhere", () => {
    spec.given([formed(), created(), removed]).when(form("h2", 2048)).then([formed("h2", 2048), created("h2", 2048)]);
  });

  it("members join once and leave once", () => {
    spec.given([formed(), created()]).when(join(M1)).then([joined(M1)]);
    spec.given([formed(), created(), joined(M1)]).when(join(M1)).thenNothingHappened();
    spec.given([formed(), created(), joined(M1)]).when(leave(M1)).then([left(M1)]);
    spec.given([formed(), created(), joined(M1), left(M1)]).when(leave(M1)).thenNothingHappened();
    spec.given([]).when(leave(M1)).thenNothingHappened();
  });

  it("a member cannot join a group without a mount", () => {
    spec.given([]).when(join(M1)).thenThrows(FailedPreconditionError, `container ${M1} cannot join an IPC group whose shm is not mounted`);
    spec.given([formed(), created(), removed]).when(join(M1)).thenThrows(FailedPreconditionError);
  });

  it("releases the mount only after the last member left and the owner is not live", () => {
    spec
      .given([formed(), created(), joined(M1), joined(M2), left(M1)])
      .when(release(false))
      .thenThrows(FailedPreconditionError, `the shm mount of container ${OWNER} is used by 1 member(s): ${M2}`);
    spec
      .given([formed(), created(), joined(M1), left(M1)])
      .when(release(true))
      .thenThrows(FailedPreconditionError, `the shm mount of container ${OWNER} is used by its owner`);
    spec.given([formed(), created(), joined(M1), joined(M2), left(M2), left(M1)]).when(release(false)).then([removed]);
  });

  it("releasing twice or with no group records nothing", () => {
    spec.given([formed(), created(), removed]).when(release(false)).thenNothingHappened();
    spec.given([]).when(release(false)).thenNothingHappened();
  });

  it("a fact before IpcGroupFormed is a corrupt stream", () => {
    expect(() => ipcGroupDecider.evolve(ipcGroupDecider.initialState(), joined(M1))).toThrow(InternalError);
  });
});

describe("IPC group decider under any sequence of commands", () => {
  const members = ["1", "2", "3"].map((c) => c.repeat(64));
  const commandArb: fc.Arbitrary<IpcGroupCommand> = fc.oneof(
    fc.constantFrom("h1", "h2").map((host) => form(host)),
    fc.constantFrom(...members).map(join),
    fc.constantFrom(...members).map(leave),
    fc.boolean().map(release),
  );

  it("never removes the mount while a member holds it or the owner is live, and tracks members exactly", () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 40 }), (commands) => {
        let state = ipcGroupDecider.initialState();
        const held = new Set<string>();
        let mounted = false;
        for (const c of commands) {
          let events: IpcGroupEvent[];
          try {
            events = ipcGroupDecider.decide(c, state);
          } catch (err) {
            expect(err).toBeInstanceOf(FailedPreconditionError);
            continue;
          }
          for (const e of events) {
            if (e.type === "ShmMountRemoved") {
              expect(held.size).toBe(0);
              expect(c.type === "ReleaseShmMount" && !c.data.ownerLive).toBe(true);
              mounted = false;
            }
            if (e.type === "ShmMountCreated") mounted = true;
            if (e.type === "IpcGroupMemberJoined") {
              expect(mounted).toBe(true);
              held.add(e.data.memberId);
            }
            if (e.type === "IpcGroupMemberLeft") held.delete(e.data.memberId);
            state = ipcGroupDecider.evolve(state, e);
          }
          if (state.status === "formed") {
            expect(new Set(state.members)).toEqual(held);
            expect(state.shmMounted).toBe(mounted);
          }
        }
      }),
    );
  });
});
