import { InvalidArgumentError } from "@shoal/domain";
import { edit, type LinuxNamespace, type SpecOpt } from "./spec";

/** `new`: the container gets its own network namespace (loopback only for now); `host`: it shares the host's. */
export type NetworkMode = "new" | "host";

/**
 * Sets the container's pid, mount, uts and network namespaces: all new, except no
 * network entry for `network: "host"`. The ipc entry is withIpc's: an existing ipc entry
 * is kept as it is (put withIpc after this step). Other namespace types are dropped.
 */
export function withNamespaces(options: { network?: NetworkMode } = {}): SpecOpt {
  const network = options.network ?? "new";
  if (network !== "new" && network !== "host") {
    throw new InvalidArgumentError(`network mode must be "new" or "host", got ${JSON.stringify(network)}`);
  }
  return (spec) =>
    edit(spec, (s) => {
      const ipc = (s.linux?.namespaces ?? []).filter((n) => n.type === "ipc");
      const namespaces: LinuxNamespace[] = [
        { type: "pid" },
        ...ipc,
        { type: "uts" },
        { type: "mount" },
        ...(network === "new" ? [{ type: "network" as const }] : []),
      ];
      s.linux = { ...(s.linux ?? {}), namespaces };
    });
}
