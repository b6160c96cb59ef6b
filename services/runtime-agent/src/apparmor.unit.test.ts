import { describe, expect, it } from "vitest";
import { FailedPreconditionError, InternalError } from "@shoal/domain";
import { createFakeHostOs } from "@shoal/host-os";
import { DEFAULT_APPARMOR_PROFILE, DEFAULT_APPARMOR_PROFILE_TEXT, buildSpec } from "@shoal/oci";
import { loadDefaultAppArmorProfile } from "./apparmor";

describe("loadDefaultAppArmorProfile", () => {
  it("where AppArmor is enabled, loads the profile that specs then name", async () => {
    const os = createFakeHostOs({ appArmorEnabled: true });
    expect(await loadDefaultAppArmorProfile(os, true)).toBe(true);
    expect(os.loadedAppArmorProfiles).toEqual([DEFAULT_APPARMOR_PROFILE_TEXT]);
    // The name a default container's spec carries is the profile the text defines.
    const spec = buildSpec({
      id: "c1",
      process: { args: ["/bin/true"] },
      ipc: { mode: "private", shmSizeBytes: 65536 },
      apparmorEnabled: true,
      cgroupPrefix: "shoal-h",
    });
    expect(spec.process?.apparmorProfile).toBe(DEFAULT_APPARMOR_PROFILE);
    expect(os.loadedAppArmorProfiles[0]).toMatch(new RegExp(`^profile ${DEFAULT_APPARMOR_PROFILE} flags=`, "m"));
  });

  it("where AppArmor is disabled, loads nothing", async () => {
    const os = createFakeHostOs({ appArmorEnabled: false });
    expect(await loadDefaultAppArmorProfile(os, false)).toBe(false);
    expect(os.calls.filter((c) => c.op === "loadAppArmorProfile")).toEqual([]);
  });

  it("a failed load is FailedPreconditionError naming the profile, with the loader's error as cause", async () => {
    const os = createFakeHostOs({ appArmorEnabled: true });
    const cause = new InternalError("apparmor_parser: syntax error");
    os.failNext("loadAppArmorProfile", cause);
    const err = await loadDefaultAppArmorProfile(os, true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toBe(
      `AppArmor is enabled on this host, but the default profile ${DEFAULT_APPARMOR_PROFILE} that containers run under could not be loaded: apparmor_parser: syntax error`,
    );
    expect((err as Error).cause).toBe(cause);
  });
});
