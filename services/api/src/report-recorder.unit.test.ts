import pino from "pino";
import { describe, expect, it } from "vitest";
import { REPORT_TYPES, reportIds } from "@shoal/host-protocol";
import { createInFlight } from "./api-context";
import type { ApiContext } from "./api-context";
import { recordReport } from "./report-recorder";

// The agent publishes its ContainerStarted report shortly after it answers StartContainer, so
// under load the report can reach the api first. Recording it then would race the api's append
// of the same start from the answer (one of the two appends loses the stream version and is wasted).

const id = "a".repeat(64);
const pid = 4242;
const report = {
  reportId: reportIds.containerStarted(id, pid),
  host: "h1",
  type: REPORT_TYPES.containerStarted,
  payload: { containerId: id, pid, ipcNamespaceInode: 1, runtime: { name: "runc", path: "/usr/sbin/runc", args: [] }, startedAt: new Date().toISOString() },
  reportedAt: new Date(),
};

/** A context whose store and database must not be touched. */
function contextWith(inFlight: ApiContext["inFlight"]): ApiContext {
  const untouchable = new Proxy({}, { get: (_t, key) => { throw new Error(`the report touched the ${String(key)} of the log`); } });
  return { logger: pino({ level: "silent" }), inFlight, store: untouchable, db: untouchable } as unknown as ApiContext;
}

describe("recordReport of a ContainerStarted", () => {
  it("waits while this api awaits the agent's answer for that container, then appends nothing when the answer recorded the start", async () => {
    const inFlight = createInFlight();
    let answer!: () => void;
    inFlight.answersAwaited.set(
      id,
      new Promise<void>((resolve) => {
        answer = () => {
          // What the dispatcher does on the answer: record the start under the report's id.
          void inFlight.answersRecorded.once(report.reportId, async () => true);
          resolve();
        };
      }),
    );
    let recorded = false;
    const recording = recordReport(contextWith(inFlight), report).then(() => (recorded = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(recorded).toBe(false);
    answer();
    await recording;
    expect(recorded).toBe(true);
  });
});
