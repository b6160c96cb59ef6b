/**
 * Fencing: what a host must kill before it adopts anything, after the control plane tells
 * it which containers the log places here (a Reconcile with `fence`). Pure: a snapshot in,
 * named buckets out (STYLE habit 3); reconcile.ts applies it.
 *
 * Rules (only running copies are fenced):
 * - a running container of this host that the log does not place here is killed and
 *   deleted: the log placed it elsewhere while this host was cut off (or removed it), so
 *   this copy must not run beside the new one;
 * - so is a running copy started under another epoch than the placement's (an older
 *   incarnation of a container placed here again since);
 * - a start in progress is kept (its placement is newer than the snapshot the control plane
 *   sent), and so is a container with no epoch recorded (started before epochs existed),
 *   when the log places it here;
 * - a copy that is not running is kept: an exited container keeps its logs and layer here
 *   for `logs` and a later start (removal takes them away);
 * - what is kept and running is adopted by the control plane.
 */

export interface FenceInput {
  /** This host's containers: every record, whether its process runs, and the epoch its copy was started under. */
  readonly local: readonly { readonly containerId: string; readonly running: boolean; readonly epoch?: number }[];
  /** What the log places here, with the placement's epoch when the control plane knows it. */
  readonly expected: readonly { readonly containerId: string; readonly epoch?: number }[];
  /** Starts in progress right now. */
  readonly starting: readonly string[];
}

export interface FencePlan {
  /** Running copies the log does not place here (or places under another epoch): kill and delete. */
  kill: string[];
  /** Everything else: left as it is. */
  keep: string[];
}

export function planFence(input: FenceInput): FencePlan {
  const expected = new Map(input.expected.map((e) => [e.containerId, e.epoch]));
  const starting = new Set(input.starting);
  const plan: FencePlan = { kill: [], keep: [] };
  for (const c of input.local) {
    if (starting.has(c.containerId) || !c.running) {
      plan.keep.push(c.containerId);
      continue;
    }
    if (!expected.has(c.containerId)) {
      plan.kill.push(c.containerId);
      continue;
    }
    const want = expected.get(c.containerId);
    if (want !== undefined && c.epoch !== undefined && want !== c.epoch) plan.kill.push(c.containerId);
    else plan.keep.push(c.containerId);
  }
  return plan;
}

/**
 * Self-fencing (`--stop-on-disconnect`): which running containers this host stops by
 * itself, cut off from the control plane for `cutOffForMs`: each whose limit has passed and
 * that it has not stopped already during this cut. Their limit is shorter than the control
 * plane's heartbeat timeout, so they are stopped before the host can be declared lost and
 * the containers placed elsewhere: never running twice.
 */
export function planSelfFence(input: {
  readonly cutOffForMs: number;
  readonly running: readonly { readonly containerId: string; readonly stopOnDisconnectMs?: number }[];
  readonly stoppedAlready: ReadonlySet<string>;
}): string[] {
  return input.running
    .filter((c) => c.stopOnDisconnectMs !== undefined && input.cutOffForMs >= c.stopOnDisconnectMs && !input.stoppedAlready.has(c.containerId))
    .map((c) => c.containerId);
}
