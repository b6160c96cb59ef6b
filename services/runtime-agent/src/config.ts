import { hostname } from "node:os";
import { InvalidArgumentError, parseCpus, parseMemory } from "@shoal/domain";

/** Everything the agent process reads from its environment, checked once at start. */
export interface AgentEnvConfig {
  /** This host's name; one subject token (`[A-Za-z0-9_-]`). */
  readonly host: string;
  readonly natsUrl: string;
  readonly subjectPrefix: string;
  readonly containerdSocket: string;
  /** Where per-container state, shm mounts and wrappers live. Default `/var/lib/shoal`. */
  readonly stateRoot: string;
  /** Short directory for runc state and exec output; default `/run/shoal/<host>`. Socket paths under it stay < 108 bytes. */
  readonly runDir: string;
  /** 0 picks a free port. Default 9423. */
  readonly metricsPort: number;
  readonly heartbeatIntervalMs: number;
  /**
   * What the host offers to containers, instead of what the agent probes (machine and cgroup
   * limits, see probeCapacity): set one to make a small host in a test. Absent: probed.
   */
  readonly capacity: { readonly memoryBytes?: number; readonly nanoCpus?: number };
}

/**
 * Reads SHOAL_HOST (default: the machine's hostname, shortened to a subject token),
 * SHOAL_NATS_URL, SHOAL_SUBJECT_PREFIX, SHOAL_CONTAINERD_SOCKET, SHOAL_STATE_ROOT,
 * SHOAL_RUN_DIR, SHOAL_METRICS_PORT, SHOAL_HEARTBEAT_MS, and the capacity overrides
 * SHOAL_HOST_MEMORY (bytes, or a size as `--memory` takes it: `512m`, `2g`) and
 * SHOAL_HOST_CPUS (a decimal number of CPUs as `--cpus` takes it: `1.5`).
 * InvalidArgumentError naming the variable when one is malformed (a capacity of 0 too).
 */
export function readAgentConfig(env: NodeJS.ProcessEnv = process.env): AgentEnvConfig {
  const host = env.SHOAL_HOST ?? hostname().split(".")[0]!.replace(/[^A-Za-z0-9_-]/g, "-");
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(host)) throw new InvalidArgumentError(`SHOAL_HOST ${JSON.stringify(host)} must be 1-64 of [A-Za-z0-9_-]`);
  const stateRoot = absolute("SHOAL_STATE_ROOT", env.SHOAL_STATE_ROOT ?? "/var/lib/shoal");
  const runDir = absolute("SHOAL_RUN_DIR", env.SHOAL_RUN_DIR ?? `/run/shoal/${host}`);
  // runc's state (and the shim's sockets) live below runDir: keep it short.
  if (runDir.length > 60) throw new InvalidArgumentError(`SHOAL_RUN_DIR ${runDir} is longer than 60 bytes; socket paths below it would pass 108`);
  return {
    host,
    natsUrl: env.SHOAL_NATS_URL ?? "nats://127.0.0.1:4222",
    subjectPrefix: env.SHOAL_SUBJECT_PREFIX ?? "shoal",
    containerdSocket: absolute("SHOAL_CONTAINERD_SOCKET", env.SHOAL_CONTAINERD_SOCKET ?? "/run/containerd/containerd.sock"),
    stateRoot,
    runDir,
    metricsPort: integer("SHOAL_METRICS_PORT", env.SHOAL_METRICS_PORT ?? "9423", 0, 65535),
    heartbeatIntervalMs: integer("SHOAL_HEARTBEAT_MS", env.SHOAL_HEARTBEAT_MS ?? "5000", 100, 3_600_000),
    capacity: {
      ...optional("SHOAL_HOST_MEMORY", env.SHOAL_HOST_MEMORY, "memoryBytes", parseMemory),
      ...optional("SHOAL_HOST_CPUS", env.SHOAL_HOST_CPUS, "nanoCpus", parseCpus),
    },
  };
}

/** `{ [key]: parse(value) }` when the variable is set; InvalidArgumentError naming it when `parse` refuses it or gives nothing. */
function optional<K extends string>(name: string, value: string | undefined, key: K, parse: (v: string) => number | undefined): { [P in K]?: number } {
  if (value === undefined) return {};
  let parsed: number | undefined;
  try {
    parsed = parse(value.trim());
  } catch (err) {
    throw new InvalidArgumentError(`${name} ${JSON.stringify(value)}: ${(err as Error).message}`, { cause: err });
  }
  if (parsed === undefined) throw new InvalidArgumentError(`${name} ${JSON.stringify(value)} must be more than 0`);
  return { [key]: parsed } as { [P in K]?: number };
}

function absolute(name: string, value: string): string {
  if (!value.startsWith("/")) throw new InvalidArgumentError(`${name} must be an absolute path, got ${JSON.stringify(value)}`);
  return value.replace(/\/+$/, "") || "/";
}

function integer(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  return n;
}
