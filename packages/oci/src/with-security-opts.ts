import { InvalidArgumentError } from "@shoal/domain";
import { DEFAULT_APPARMOR_PROFILE } from "./apparmor-profile";
import { edit, requireProcess, type SpecOpt } from "./spec";

export interface AppArmorHost {
  /** Whether AppArmor is enabled on the host (`/sys/module/apparmor/parameters/enabled` is `Y`). */
  readonly apparmorEnabled: boolean;
  readonly privileged: boolean;
}

/**
 * Sets `process.apparmorProfile`: removed when AppArmor is not enabled on the host;
 * `unconfined` for a privileged container (even when a profile is named); otherwise
 * `profile` or `shoal-default`. Needs withProcess first.
 */
export function withAppArmor(profile: string | undefined, host: AppArmorHost): SpecOpt {
  const chosen = !host.apparmorEnabled
    ? undefined
    : host.privileged
      ? "unconfined"
      : profile && profile !== ""
        ? profile
        : DEFAULT_APPARMOR_PROFILE;
  return (spec) => {
    requireProcess(spec, "withAppArmor");
    return edit(spec, (s) => {
      const process = s.process as NonNullable<typeof s.process>;
      if (chosen === undefined) delete process.apparmorProfile;
      else process.apparmorProfile = chosen;
    });
  };
}

/** What `--security-opt` entries ask for. */
export interface SecurityOpts {
  readonly noNewPrivileges: boolean;
  /** The named AppArmor profile, if any. */
  readonly apparmorProfile: string | undefined;
}

/**
 * Parses Docker-style `--security-opt` entries: `no-new-privileges` (optionally
 * `=true|false`, or with `:` as Docker also accepts) and `apparmor=<profile>`.
 * Anything else is InvalidArgumentError naming the entry and what is supported.
 */
export function parseSecurityOpts(securityOpt: readonly string[]): SecurityOpts {
  let noNewPrivileges = false;
  let apparmorProfile: string | undefined;
  for (const raw of securityOpt) {
    const opt = raw.trim();
    const sep = opt.search(/[=:]/);
    const key = sep < 0 ? opt : opt.slice(0, sep);
    const value = sep < 0 ? undefined : opt.slice(sep + 1);
    if (key === "no-new-privileges") {
      if (value === undefined || value === "true") noNewPrivileges = true;
      else if (value === "false") noNewPrivileges = false;
      else throw new InvalidArgumentError(`invalid --security-opt ${JSON.stringify(raw)}: no-new-privileges takes true or false`);
    } else if (key === "apparmor" && value !== undefined && value !== "") {
      apparmorProfile = value;
    } else {
      throw new InvalidArgumentError(
        `invalid --security-opt ${JSON.stringify(raw)}: supported are no-new-privileges[=true|false] and apparmor=<profile>`,
      );
    }
  }
  return { noNewPrivileges, apparmorProfile };
}

/**
 * Applies `--security-opt` entries: `process.noNewPrivileges`, and the AppArmor profile
 * through withAppArmor (so the host and privileged rules hold for a named profile too).
 * InvalidArgumentError as parseSecurityOpts. Needs withProcess first.
 */
export function withSecurityOpts(securityOpt: readonly string[], host: AppArmorHost): SpecOpt {
  const opts = parseSecurityOpts(securityOpt);
  const apparmor = withAppArmor(opts.apparmorProfile, host);
  return (spec) => {
    requireProcess(spec, "withSecurityOpts");
    return apparmor(
      edit(spec, (s) => {
        (s.process as NonNullable<typeof s.process>).noNewPrivileges = opts.noNewPrivileges;
      }),
    );
  };
}
