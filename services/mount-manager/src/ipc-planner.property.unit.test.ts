import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { FailedPreconditionError, NotFoundError, parseIpcMode } from "@shoal/domain";
import type { IpcPlan } from "@shoal/domain";
import { planIpc } from "./ipc-planner";
import type { IpcOwnerView, IpcPlanInput } from "./ipc-planner";

const ID = "a".repeat(64);
const OWNER = "b".repeat(64);
const size = fc.integer({ min: 1, max: 2 ** 40 });
const planArb: fc.Arbitrary<IpcPlan> = fc.oneof(
  fc.constant({ mode: "none" } as const),
  fc.constant({ mode: "host" } as const),
  size.map((s) => ({ mode: "private", shmSizeBytes: s }) as const),
  size.map((s) => ({ mode: "shareable", shmSizeBytes: s, shmMountPath: `/r/containers/${OWNER}/mounts/shm` }) as const),
);
const ownerArb: fc.Arbitrary<IpcOwnerView | undefined> = fc.option(
  fc.record(
    {
      containerId: fc.constant(OWNER),
      running: fc.boolean(),
      pid: fc.integer({ min: 1, max: 4_000_000 }),
      host: fc.constantFrom("h1", "h2"),
      plan: planArb,
    },
    { requiredKeys: ["containerId", "running"] },
  ),
  { nil: undefined },
);
const inputArb: fc.Arbitrary<IpcPlanInput> = fc
  .record({
    mode: fc.option(fc.constantFrom("", "none", "private", "shareable", "host", "container:db"), { nil: undefined }),
    requested: fc.option(size, { nil: undefined }),
    host: fc.constantFrom("h1", "h2"),
    defaultIpcMode: fc.constantFrom("private" as const, "shareable" as const),
    defaultShm: size,
    owner: ownerArb,
    mounted: fc.option(fc.record({ host: fc.constantFrom("h1", "h2"), sizeBytes: size, path: fc.constant("/m/shm") }), { nil: undefined }),
  })
  .map((r) => ({
    containerId: ID,
    requestedMode: r.mode === undefined ? undefined : parseIpcMode(r.mode),
    requestedShmSize: r.mode === "container:db" || r.mode === "host" ? undefined : r.requested,
    host: r.host,
    config: { defaultIpcMode: r.defaultIpcMode, defaultShmSizeBytes: r.defaultShm, stateRoot: "/r" },
    ...(r.owner ? { owner: r.owner } : {}),
    ...(r.mounted ? { mountedShm: r.mounted } : {}),
  }));

describe("planIpc properties", () => {
  it("plans the resolved mode, with a positive whole size wherever there is a /dev/shm", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const r = planIpc(input);
        if (!r.ok) return;
        expect(r.plan.mode).toBe(r.mode.kind);
        if ("shmSizeBytes" in r.plan) expect(Number.isSafeInteger(r.plan.shmSizeBytes) && r.plan.shmSizeBytes > 0).toBe(true);
      }),
    );
  });

  it("only members and shareable owners can be refused; a member exactly when its owner cannot be joined here", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const r = planIpc(input);
        const o = input.owner;
        if (r.mode.kind === "container") {
          const joinable = o !== undefined && o.running && o.pid !== undefined && o.plan?.mode === "shareable" && o.host === input.host;
          expect(r.ok).toBe(joinable);
          if (!r.ok) expect(r.error).toBeInstanceOf(o === undefined ? NotFoundError : FailedPreconditionError);
        } else if (r.mode.kind === "shareable") {
          expect(r.ok).toBe(input.mountedShm === undefined || input.mountedShm.host === input.host);
        } else {
          expect(r.ok).toBe(true);
        }
      }),
    );
  });

  it("a member always shares its owner's pid, size and mount path", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const r = planIpc(input);
        if (!r.ok || r.plan.mode !== "container") return;
        const ownerPlan = input.owner!.plan as Extract<IpcPlan, { mode: "shareable" }>;
        expect(r.plan).toEqual({
          mode: "container",
          ownerId: OWNER,
          ownerPid: input.owner!.pid,
          shmSizeBytes: ownerPlan.shmSizeBytes,
          shmMountPath: ownerPlan.shmMountPath,
        });
      }),
    );
  });
});
