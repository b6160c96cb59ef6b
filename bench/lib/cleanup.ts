/**
 * Undo steps for everything a benchmark started, run in reverse order exactly once: at the
 * end of `main`, when it throws, or on SIGINT/SIGTERM (then the process exits 130/143 after
 * the steps ran). A failing step is reported on stderr and the next one still runs.
 */
export interface Cleanup {
  /** Registers an undo step; steps run last-registered first. */
  push(what: string, step: () => Promise<unknown>): void;
  /** True once a signal asked the benchmark to stop: loops should throw `Interrupted`. */
  readonly interrupted: boolean;
  /** Throws `Interrupted` when a signal arrived. */
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
  let running: Promise<void> | undefined;
  const runSteps = (): Promise<void> =>
    (running ??= (async () => {
      while (steps.length > 0) {
        const { what, step } = steps.pop()!;
        try {
          await step();
        } catch (err) {
          console.error(`cleanup: ${what} failed: ${(err as Error).message}`);
        }
      }
    })());
  const onSignal = (s: NodeJS.Signals) => {
    if (signal !== undefined) return; // a second Ctrl-C does not abandon the cleanup
    signal = s;
    console.error(`\n${s}: cleaning up what the benchmark started…`);
    void runSteps().then(() => process.exit(s === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const cleanup: Cleanup = {
    push: (what, step) => {
      steps.push({ what, step });
    },
    get interrupted() {
      return signal !== undefined;
    },
    check() {
      if (signal !== undefined) throw new Interrupted(signal);
    },
  };
  try {
    await main(cleanup);
  } finally {
    await runSteps();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
