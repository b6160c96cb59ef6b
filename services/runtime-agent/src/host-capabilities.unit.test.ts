import { describe, expect, it } from "vitest";
import { probeCapacity } from "./host-capabilities";
import type { CapacitySources } from "./host-capabilities";

const GiB = 1024 ** 3;
const CPU = 1_000_000_000;
const MEMINFO = "MemTotal:       16318748 kB\nMemFree:         1234567 kB\nMemAvailable:    9876543 kB\n";
const MEMTOTAL = 16318748 * 1024;

/** Sources over fixture files; any other path does not exist. */
const machine = (files: Record<string, string>, cpuCount = 8): CapacitySources => ({
  readFile: async (path) => files[path],
  cpuCount,
  fallbackMemoryBytes: 1 * GiB,
});

describe("probeCapacity", () => {
  it("offers the machine's memory and CPUs when no cgroup limits them (a bare host, cgroup v2)", async () => {
    const c = await probeCapacity(
      machine({
        "/proc/meminfo": MEMINFO,
        "/proc/self/cgroup": "0::/system.slice/shoal-agent.service\n",
        // The unit sets none: "max" everywhere, and the root cgroup has no such files.
        "/sys/fs/cgroup/system.slice/shoal-agent.service/memory.max": "max\n",
        "/sys/fs/cgroup/system.slice/shoal-agent.service/cpu.max": "max 100000\n",
      }),
    );
    expect(c).toEqual({
      memoryBytes: MEMTOTAL,
      nanoCpus: 8 * CPU,
      memorySource: "/proc/meminfo MemTotal",
      cpusSource: "8 CPUs this process may run on",
    });
  });

  it("takes a container's limits on cgroup v2 with a private cgroup namespace (its cgroup is the root)", async () => {
    const c = await probeCapacity(
      machine({
        "/proc/meminfo": MEMINFO,
        "/proc/self/cgroup": "0::/\n",
        "/sys/fs/cgroup/memory.max": "2147483648\n",
        "/sys/fs/cgroup/cpu.max": "150000 100000\n",
      }),
    );
    expect(c).toMatchObject({ memoryBytes: 2 * GiB, nanoCpus: 1.5 * CPU, memorySource: "cgroup /sys/fs/cgroup/memory.max", cpusSource: "cgroup /sys/fs/cgroup/cpu.max" });
  });

  it("walks up from the agent's cgroup and keeps the tightest limit of each", async () => {
    const c = await probeCapacity(
      machine({
        "/proc/meminfo": MEMINFO,
        "/proc/self/cgroup": "0::/fleet.slice/docker-abc.scope\n",
        "/sys/fs/cgroup/fleet.slice/docker-abc.scope/memory.max": String(4 * GiB),
        "/sys/fs/cgroup/fleet.slice/docker-abc.scope/cpu.max": "max 100000",
        "/sys/fs/cgroup/fleet.slice/memory.max": String(3 * GiB),
        "/sys/fs/cgroup/fleet.slice/cpu.max": "200000 100000",
      }),
    );
    expect(c).toMatchObject({
      memoryBytes: 3 * GiB,
      nanoCpus: 2 * CPU,
      memorySource: "cgroup /sys/fs/cgroup/fleet.slice/memory.max",
      cpusSource: "cgroup /sys/fs/cgroup/fleet.slice/cpu.max",
    });
  });

  it("never offers more than the machine has or the agent may run on", async () => {
    const c = await probeCapacity(
      machine(
        {
          "/proc/meminfo": MEMINFO,
          "/proc/self/cgroup": "0::/\n",
          "/sys/fs/cgroup/memory.max": String(1024 * GiB),
          "/sys/fs/cgroup/cpu.max": "800000 100000",
        },
        2, // a cpuset of two CPUs
      ),
    );
    expect(c).toMatchObject({ memoryBytes: MEMTOTAL, nanoCpus: 2 * CPU, memorySource: "/proc/meminfo MemTotal" });
  });

  it("reads cgroup v1: memory.limit_in_bytes and the CFS quota, 'no limit' values skipped", async () => {
    const cgroup = "12:memory:/docker/abc\n5:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n";
    const limited = await probeCapacity(
      machine({
        "/proc/meminfo": MEMINFO,
        "/proc/self/cgroup": cgroup,
        // A non-privileged container: its own cgroup is mounted as each hierarchy's root.
        "/sys/fs/cgroup/memory/memory.limit_in_bytes": String(512 * 1024 ** 2),
        "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "50000",
        "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000",
      }),
    );
    expect(limited).toMatchObject({
      memoryBytes: 512 * 1024 ** 2,
      nanoCpus: 0.5 * CPU,
      memorySource: "cgroup /sys/fs/cgroup/memory/memory.limit_in_bytes",
      cpusSource: "cgroup /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us",
    });
    const unlimited = await probeCapacity(
      machine({
        "/proc/meminfo": MEMINFO,
        "/proc/self/cgroup": cgroup,
        "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "9223372036854771712",
        "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "-1",
        "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000",
      }),
    );
    expect(unlimited).toMatchObject({ memoryBytes: MEMTOTAL, nanoCpus: 8 * CPU });
  });

  it("falls back to the total memory and skips what it cannot read or parse", async () => {
    const c = await probeCapacity(
      machine({
        "/proc/self/cgroup": "garbage\n0::/\n",
        "/sys/fs/cgroup/memory.max": "lots",
        "/sys/fs/cgroup/cpu.max": "1 2 3",
      }),
    );
    expect(c).toEqual({ memoryBytes: GiB, nanoCpus: 8 * CPU, memorySource: "total memory (os.totalmem)", cpusSource: "8 CPUs this process may run on" });
    expect(await probeCapacity(machine({ "/proc/meminfo": MEMINFO }))).toMatchObject({ memoryBytes: MEMTOTAL, nanoCpus: 8 * CPU });
  });
});
