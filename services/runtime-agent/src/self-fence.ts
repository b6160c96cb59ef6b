import { runsHere } from "./agent-context";
import type { AgentContext } from "./agent-context";
import { planSelfFence } from "./fence-plan";

/**
 * Stops, with SIGKILL, every running container whose `--stop-on-disconnect` limit the cut
 * has passed (planSelfFence), once per cut (`stoppedThisCut`, cleared when the link
 * returns). The exits are reported as any exit once the link is back. Never rejects: a
 * kill that fails is logged and tried again at the next tick.
 */
export async function selfFence(ctx: AgentContext, cutOffForMs: number, stoppedThisCut: Set<string>): Promise<void> {
  try {
    const { records } = await ctx.store.list();
    const running = records.filter((r) => runsHere(ctx, r.containerId));
    for (const id of planSelfFence({ cutOffForMs, running, stoppedAlready: stoppedThisCut })) {
      stoppedThisCut.add(id);
      ctx.log.warn({ containerId: id, cutOffForMs }, "--stop-on-disconnect: cut off from the control plane past its limit; stopping the container");
      await ctx.live
        .get(id)
        ?.task.kill("SIGKILL", { all: true })
        .catch((err: unknown) => {
          stoppedThisCut.delete(id);
          ctx.log.error({ err, containerId: id }, "--stop-on-disconnect: could not kill the container; trying again");
        });
    }
  } catch (err) {
    ctx.log.error({ err }, "--stop-on-disconnect: could not check the containers");
  }
}
