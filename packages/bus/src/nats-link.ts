import type { NatsConnection } from "@nats-io/nats-core";

/**
 * Whether this process can reach NATS right now, measured, not assumed: every `intervalMs`
 * one round trip to the server (a flush: PING, then its PONG) bounded by `intervalMs`.
 * A client only notices a dead TCP connection after its own pings time out (minutes by
 * default), and a cut network drops packets without a reset, so the connection's status
 * alone would say "connected" through a partition.
 *
 * - `lastContactAt`: the end of the last round trip that succeeded (start: the watch's start).
 * - `onLost` runs once when a round trip fails after one succeeded; `onReturn` once when one
 *   succeeds again after that, with how long contact was lost. Their errors are the caller's
 *   to log; a throw is swallowed so the watch goes on.
 * - `onTick` runs after every round trip, with the time since the last contact (0 when this
 *   one succeeded).
 */
export interface NatsLink {
  lastContactAt(): number;
  /** True while the last round trip succeeded. */
  healthy(): boolean;
  stop(): void;
}

export function watchNatsLink(
  nc: NatsConnection,
  opts: {
    intervalMs: number;
    onLost?: () => void;
    onReturn?: (lostForMs: number) => void;
    onTick?: (cutOffForMs: number) => void;
    now?: () => number;
  },
): NatsLink {
  const now = opts.now ?? Date.now;
  let last = now();
  let up = true;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const safely = (fn: () => void) => {
    try {
      fn();
    } catch {
      // The caller's to log; the watch goes on.
    }
  };
  const roundTrip = async (): Promise<boolean> => {
    if (nc.isClosed()) return false;
    let timeout: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        nc.flush(),
        new Promise((_, reject) => {
          timeout = setTimeout(() => reject(new Error("no PONG")), opts.intervalMs);
        }),
      ]);
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timeout);
    }
  };
  const tick = async () => {
    const ok = await roundTrip();
    if (stopped) return;
    const at = now();
    if (ok) {
      if (!up) {
        up = true;
        const lostFor = at - last;
        safely(() => opts.onReturn?.(lostFor));
      }
      last = at;
    } else if (up) {
      up = false;
      safely(() => opts.onLost?.());
    }
    safely(() => opts.onTick?.(ok ? 0 : at - last));
    timer = setTimeout(() => void tick(), ok ? opts.intervalMs : Math.min(opts.intervalMs, 1000));
  };
  timer = setTimeout(() => void tick(), opts.intervalMs);
  return {
    lastContactAt: () => last,
    healthy: () => up,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
