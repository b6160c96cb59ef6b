/**
 * What a host's agent says about its host when it registers (HostRegistered): the one type
 * of it, which the agent builds, the report and the event carry, and the scheduler and the
 * mount-manager read. Wire contract: add fields only.
 */

/** Whether recursive read-only (`rro`) binds can be offered, and if not, why. */
export type RroSupport = { readonly supported: true } | { readonly supported: false; readonly reason: string };

export interface RuntimeCapability {
  name: string;
  path: string;
  /** `<path> features` parsed, or undefined when the runtime has no such command. */
  features?: unknown;
  featuresError?: string;
  rro: RroSupport;
}

export interface HostCapabilities {
  kernelVersion: string;
  cgroupVersion: "v1" | "v2";
  runtimes: RuntimeCapability[];
  apparmor: { enabled: boolean };
  /**
   * `criu check` passed (`message` is what it said; `version` what `criu --version` printed,
   * absent from agents before it was reported), or why CRIU cannot be used here.
   */
  criu: { available: true; message: string; version?: string } | { available: false; reason: string };
  /**
   * The agent's state root: an owner's shm tmpfs is at `<stateRoot>/containers/<id>/mounts/shm`
   * on this host, and the mount-manager plans that path from this field (a StartContainer
   * naming another path for an owner is refused).
   */
  stateRoot: string;
}
