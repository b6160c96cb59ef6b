/**
 * A hollow fleet (hollow-agent.ts) in a child process of its own, so its CPU is counted apart
 * from the load generator's and the two do not share an event loop. Started by
 * `forkHollowFleet`; speaks to its parent over the fork IPC channel:
 *   parent → {start: HollowFleetOptions}   child → {started: hostNames} | {failed: message}
 *   parent → {counters: true}              child → {counters: HollowFleetCounters}
 *   parent → {stop: true}                  child → {stopped: true}, then exits
 * The child exits on its own when its parent goes away (the IPC channel closes).
 */
import { startHollowFleet } from "./hollow-agent";
import type { HollowFleet, HollowFleetOptions } from "./hollow-agent";

type Request = { start: HollowFleetOptions } | { counters: true } | { stop: true };

let fleet: HollowFleet | undefined;
const send = (m: unknown) => process.send?.(m);

process.on("message", (m: Request) => {
  if ("start" in m) {
    startHollowFleet(m.start).then(
      (f) => {
        fleet = f;
        send({ started: f.hostNames });
      },
      (err: unknown) => send({ failed: err instanceof Error ? err.message : String(err) }),
    );
  } else if ("counters" in m) {
    send({ counters: fleet?.counters() });
  } else if ("stop" in m) {
    void (fleet?.stop() ?? Promise.resolve()).finally(() => {
      send({ stopped: true });
      process.disconnect?.();
      setTimeout(() => process.exit(0), 100).unref();
    });
  }
});
process.on("disconnect", () => {
  void (fleet?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
});
