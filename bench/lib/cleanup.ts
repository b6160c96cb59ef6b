/**
 * Undo steps for everything a benchmark started, each run exactly once, last registered
 * first: at the end of `main`, when it throws, and on SIGINT/SIGTERM. On a signal the steps
 * registered so far run at once; `main` stops at its next `check()` (or when the operation
 * it awaits fails), steps it registered meanwhile run too, and the process exits 130/143.
 * A failing step is reported on stderr and the next one still runs.
 */
export interface Cleanup {
  /** Registers an undo step. */
  push(what: string, step: () => Promise<unknown>): void;
  /** Throws `Interrupted` once a signal arrived. */
  check(): void;
}

export class Interrupted extends Error {
  constructor(signal: string) {
    super(`interrupted by ${signal}`);
  }
}

export async function withCleanup(main: (cleanup: Cleanup) => Promise<void>): Promise<void> {
  const steps: { what: string; step: () => Promise<unknown> }[] = [];
  let signal: NodeJS.Signals | undefined;
  let draining: Promise<void> = Promise.resolve();
  // Chained, so a drain started by a signal and the final one never run a step twice.
  const drain = (): Promise<void> =>
    (draining = draining.then(async () => {
      while (steps.length > 0) {
        const { what, step } = steps.pop()!;
        try {
          await step();
        } catch (err) {
          console.error(`cleanup: ${what} failed: ${(err as Error).message}`);
        }
      }
    }));
  const onSignal = (s: NodeJS.Signals) => {
    if (signal !== undefined) return; // a second Ctrl-C does not abandon the cleanup
    signal = s;
    console.error(`\n${s}: cleaning up what the benchmark started…`);
    void drain();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await main({
      push: (what, step) => {
        steps.push({ what, step });
        if (signal !== undefined) void drain();
      },
      check() {
        if (signal !== undefined) throw new Interrupted(signal);
      },
    });
  } catch (err) {
    // A Ctrl-C reaches the children too, and their failure may be seen before the signal
    // itself: give the signal a moment before calling the error news.
    if (signal === undefined) await new Promise((resolve) => setTimeout(resolve, 500));
    if (signal === undefined) throw err;
    // After a signal, whatever main was doing fails as its processes go away: not news.
  } finally {
    await drain();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  if (signal !== undefined) process.exit(signal === "SIGINT" ? 130 : 143);
}
