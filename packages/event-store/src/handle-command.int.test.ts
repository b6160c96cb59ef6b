import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailedPreconditionError } from "@shoal/domain";
import type { Decider, DomainEvent } from "@shoal/domain";
import { createTestDatabase } from "@shoal/testing";
import type { TestDatabase } from "@shoal/testing";
import { createEventStore } from "./event-store";
import type { EventStore } from "./event-store";
import { handleCommand } from "./handle-command";

// A counter that refuses to go above 3: enough to show read → decide → append.
type Added = DomainEvent<"Added", { by: number }>;
type Add = { type: "Add"; data: { by: number } };
const counter: Decider<number, Add, Added> = {
  initialState: () => 0,
  evolve: (n, e) => n + e.data.by,
  decide: (c, n) => {
    if (n + c.data.by > 3) throw new FailedPreconditionError(`would be ${n + c.data.by}`);
    return [{ type: "Added", data: { by: c.data.by } }];
  },
};

let database: TestDatabase;
let store: EventStore;
beforeAll(async () => {
  database = await createTestDatabase();
  store = createEventStore({ db: database.db });
});
afterAll(async () => database?.drop());

const run = (streamId: string, by: number, eventId: () => string = randomUUID) =>
  handleCommand(store, {
    streamId,
    decider: counter,
    command: { type: "Add", data: { by } },
    eventId: () => eventId(),
    schemaVersion: () => 1,
  });

describe("handleCommand", () => {
  it("appends what the decider decides on the state read from the stream", async () => {
    const s = `counter-${randomUUID()}`;
    expect((await run(s, 2)).state).toBe(2);
    expect((await run(s, 1)).state).toBe(3);
    await expect(run(s, 1)).rejects.toThrow(FailedPreconditionError);
    expect((await store.readStream(s)).map((e) => e.data)).toEqual([{ by: 2 }, { by: 1 }]);
  });

  it("decides again after losing a race, so concurrent commands never break the rule", async () => {
    const s = `counter-${randomUUID()}`;
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map(() => run(s, 1)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(3);
    expect(await store.readStream(s)).toHaveLength(3);
  });

  it("reports a redelivered cause (same derived event id) as a duplicate and appends nothing", async () => {
    const s = `counter-${randomUUID()}`;
    const id = randomUUID();
    expect((await run(s, 1, () => id)).duplicate).toBe(false);
    const again = await run(s, 1, () => id);
    expect(again.duplicate).toBe(true);
    expect(await store.readStream(s)).toHaveLength(1);
  });

  it("recognises a command recorded before by its derived id (recordedAs) without deciding again on a state that moved on", async () => {
    const s = `counter-${randomUUID()}`;
    const id = randomUUID();
    expect((await run(s, 3, () => id)).duplicate).toBe(false);
    // Deciding again would refuse (3 + 3 > 3): the id in the stream answers first.
    const again = await handleCommand(store, {
      streamId: s,
      decider: counter,
      command: { type: "Add", data: { by: 3 } },
      eventId: () => id,
      schemaVersion: () => 1,
      recordedAs: id,
    });
    expect(again).toMatchObject({ duplicate: true, appended: [] });
    await expect(run(s, 3, () => id)).rejects.toThrow(FailedPreconditionError);
    expect(await store.readStream(s)).toHaveLength(1);
  });
});
