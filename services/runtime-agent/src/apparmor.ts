import { FailedPreconditionError } from "@shoal/domain";
import type { HostOs } from "@shoal/host-os";
import { DEFAULT_APPARMOR_PROFILE, DEFAULT_APPARMOR_PROFILE_TEXT } from "@shoal/oci";

/**
 * Loads Shoal's default AppArmor profile (`@shoal/oci`'s DEFAULT_APPARMOR_PROFILE_TEXT) when
 * `appArmorEnabled`, replacing an older copy the kernel may hold; does nothing otherwise (specs
 * then name no profile). Resolves true when it loaded the profile.
 *
 * The agent calls it while starting, before it serves any command, so no container that names
 * the profile can start before the kernel has it. Where AppArmor is enabled and the profile
 * cannot be loaded it rejects with FailedPreconditionError (the loader's error as `cause`), and
 * the agent refuses to start, as dockerd does: otherwise every default start would fail, one by
 * one, with runc's less telling error.
 */
export async function loadDefaultAppArmorProfile(os: HostOs, appArmorEnabled: boolean): Promise<boolean> {
  if (!appArmorEnabled) return false;
  try {
    await os.loadAppArmorProfile(DEFAULT_APPARMOR_PROFILE_TEXT);
  } catch (err) {
    throw new FailedPreconditionError(
      `AppArmor is enabled on this host, but the default profile ${DEFAULT_APPARMOR_PROFILE} that containers run under could not be loaded: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return true;
}
