/** How a process ended. */
export interface ExitStatus {
  /** The exit code, or 128 + signal number when killed by a signal (containerd's convention). */
  exitStatus: number;
  exitedAt: Date;
}

export interface ProcessKey {
  containerId: string;
  /** "" for a task's init process. */
  execId: string;
}

interface Entry {
  /** 0 until known (an exec before Start): then any exit for the key is accepted. */
  pid: number;
  exit: ExitStatus | undefined;
  waiters: Array<{ resolve: (s: ExitStatus) => void; reject: (e: Error) => void }>;
}

/**
 * Remembers the exit of every process this client watches, from the moment it is watched
 * (Tasks.Create / Tasks.Exec returned, or a task was loaded) until it is unwatched (the
 * task or process was deleted), so an exit that arrives before anyone waits is not lost
 * and memory stays bounded by the number of live processes.
 *
 * An exit whose pid differs from the watched pid is a late event of an earlier
 * incarnation with the same id and is ignored.
 */
export class ExitTracker {
  private readonly entries = new Map<string, Entry>();

  watch(key: ProcessKey, pid: number): void {
    const k = keyOf(key);
    const entry = this.entries.get(k);
    if (entry === undefined) this.entries.set(k, { pid, exit: undefined, waiters: [] });
    else if (pid !== 0) entry.pid = pid;
  }

  /** Stops tracking; pending waiters are rejected with `reason`. */
  unwatch(key: ProcessKey, reason?: Error): void {
    const k = keyOf(key);
    const entry = this.entries.get(k);
    this.entries.delete(k);
    if (entry !== undefined && reason !== undefined) for (const w of entry.waiters) w.reject(reason);
  }

  isWatched(key: ProcessKey): boolean {
    return this.entries.has(keyOf(key));
  }

  /** Records an exit; returns whether it was accepted (watched key, matching pid, first exit). */
  record(key: ProcessKey, pid: number, exit: ExitStatus): boolean {
    const entry = this.entries.get(keyOf(key));
    if (entry === undefined || entry.exit !== undefined) return false;
    if (entry.pid !== 0 && pid !== 0 && entry.pid !== pid) return false;
    entry.exit = exit;
    const waiters = entry.waiters;
    entry.waiters = [];
    for (const w of waiters) w.resolve(exit);
    return true;
  }

  exitOf(key: ProcessKey): ExitStatus | undefined {
    return this.entries.get(keyOf(key))?.exit;
  }

  /**
   * Resolves with the exit of a watched process, at once when it is already known.
   * Rejects with `notWatched()` when the key is not watched.
   */
  wait(key: ProcessKey, notWatched: () => Error): Promise<ExitStatus> {
    const entry = this.entries.get(keyOf(key));
    if (entry === undefined) return Promise.reject(notWatched());
    if (entry.exit !== undefined) return Promise.resolve(entry.exit);
    return new Promise((resolve, reject) => entry.waiters.push({ resolve, reject }));
  }

  /** Watched processes whose exit is not known yet (to re-check after events may have been missed). */
  unresolved(): Array<ProcessKey & { pid: number }> {
    const out: Array<ProcessKey & { pid: number }> = [];
    for (const [k, entry] of this.entries) {
      if (entry.exit !== undefined) continue;
      const [containerId = "", execId = ""] = k.split("\0");
      out.push({ containerId, execId, pid: entry.pid });
    }
    return out;
  }

  /** Rejects every pending waiter (the client is closing). */
  rejectAll(reason: Error): void {
    for (const entry of this.entries.values()) {
      const waiters = entry.waiters;
      entry.waiters = [];
      for (const w of waiters) w.reject(reason);
    }
  }
}

function keyOf(key: ProcessKey): string {
  return `${key.containerId}\0${key.execId}`;
}
