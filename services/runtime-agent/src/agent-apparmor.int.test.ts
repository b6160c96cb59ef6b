/**
 * The agent and AppArmor, on real containerd and NATS. These kernels have AppArmor off, so the
 * AppArmor answers come from a HostOs that is the real one with its two AppArmor calls replaced
 * (enabled on cue, a load that is recorded, held or failed); mounts and everything else are real.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailedPreconditionError, InternalError } from "@shoal/domain";
import { createHostOs, type HostOs } from "@shoal/host-os";
import { DEFAULT_APPARMOR_PROFILE, DEFAULT_APPARMOR_PROFILE_TEXT } from "@shoal/oci";
import { createAgentTestBed, newContainerId, RUNC, type AgentTestBed } from "./agent-test-harness";

const MiB = 1024 * 1024;
let bed: AgentTestBed;

beforeAll(async () => {
  bed = await createAgentTestBed("apparmor");
});

afterAll(async () => {
  await bed?.cleanup();
});

/** The real HostOs, but with AppArmor `enabled` and `load` in place of apparmor_parser. */
function withAppArmor(enabled: boolean, load: (text: string) => Promise<void>): HostOs {
  return { ...createHostOs(), appArmorEnabled: async () => enabled, loadAppArmorProfile: load };
}

/** Whether the agent answers a command now (it serves commands only once started). */
async function answers(): Promise<boolean> {
  return bed.send("ListContainers", {}, 1_000).then(
    () => true,
    () => false,
  );
}

async function stopAgent(): Promise<void> {
  await bed.agent?.stop();
  bed.agent = undefined;
}

describe("the agent and Shoal's default AppArmor profile", () => {
  it("where AppArmor is enabled, loads the profile before it serves any command, and a container's spec then names it", async () => {
    const loads: string[] = [];
    let finishLoad!: () => void;
    const loading = new Promise<void>((resolve) => (finishLoad = resolve));
    const hostOs = withAppArmor(true, async (text) => {
      loads.push(text);
      await loading;
    });
    const starting = bed.startInProcessAgent({ hostOs });
    try {
      await expect.poll(() => loads.length, { timeout: 20_000 }).toBe(1);
      // The load is still in progress: the agent takes no command, so no container can name the profile yet.
      expect(await answers()).toBe(false);
      finishLoad();
      const agent = await starting;
      expect(loads).toEqual([DEFAULT_APPARMOR_PROFILE_TEXT]);
      expect(agent.capabilities.apparmor).toEqual({ enabled: true });
      expect(await answers()).toBe(true);

      // A default container's spec names the loaded profile. runc then asks the kernel for it,
      // and this kernel, AppArmor off, refuses: the refusal is the proof it was named.
      const id = newContainerId();
      const start = await bed
        .send("StartContainer", { containerId: id, rootfs: { dir: bed.rootfs }, args: ["/bin/true"], ipcPlan: { mode: "private", shmSizeBytes: MiB }, runtime: RUNC })
        .then(
          () => undefined,
          (e: unknown) => e as Error,
        );
      expect(start?.message).toMatch(/unable to apply apparmor profile/);
      expect(loads).toHaveLength(1); // loaded once, at start, not per container
    } finally {
      finishLoad();
      await starting.catch(() => undefined);
      await stopAgent();
    }
  });

  it("where AppArmor is enabled and the profile cannot be loaded, refuses to start, naming the profile", async () => {
    const hostOs = withAppArmor(true, async () => {
      throw new InternalError("/sbin/apparmor_parser -Kr: AppArmor parser error at line 1");
    });
    const err = await bed.startInProcessAgent({ hostOs }).catch((e: unknown) => e);
    bed.agent = undefined;
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toMatch(
      new RegExp(`AppArmor is enabled on this host, but the default profile ${DEFAULT_APPARMOR_PROFILE} .* could not be loaded: .*parser error at line 1`),
    );
    expect(await answers()).toBe(false);
  });

  it("where AppArmor is disabled, loads nothing, and containers run with no profile", async () => {
    const loads: string[] = [];
    const hostOs = withAppArmor(false, async (text) => void loads.push(text));
    const agent = await bed.startInProcessAgent({ hostOs });
    try {
      expect(agent.capabilities.apparmor).toEqual({ enabled: false });
      const id = newContainerId();
      await bed.send("StartContainer", { containerId: id, rootfs: { dir: bed.rootfs }, args: ["/bin/true"], ipcPlan: { mode: "private", shmSizeBytes: MiB }, runtime: RUNC });
      // The agent's record keeps the spec the container was started with.
      const record = JSON.parse(await readFile(join(bed.stateRoot, "containers", id, "agent.json"), "utf8")) as {
        spec: { process: { args: string[]; apparmorProfile?: string } };
      };
      expect(record.spec.process.args).toEqual(["/bin/true"]);
      expect(record.spec.process).not.toHaveProperty("apparmorProfile");
      expect(loads).toEqual([]);
    } finally {
      await stopAgent();
    }
  });
});
