/**
 * The baseline Shoal's start is measured against: containerd create + start called
 * directly through `@shoal/containerd` (Containers.Create, Tasks.Create, Tasks.Start),
 * with the spec the agent would build (`@shoal/oci` buildSpec) and the same overlay over
 * the rootfs directory. Its stdio is `file://` (the cheapest a client can ask containerd for;
 * on containerd 1.6 it can lose a stderr line, which is why the agent does not use it), or,
 * with `logger`, the agent's own `binary://` logger. No events, no NATS, no Postgres.
 */
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { connectContainerd } from "../../packages/containerd/src/index";
import type { ContainerdClient, Task } from "../../packages/containerd/src/index";
import type { IpcPlan } from "../../packages/domain/src/index";
import { buildSpec, overlayRootfsMounts } from "../../packages/oci/src/index";
import { logBinaryUri } from "../../services/runtime-agent/src/log-binary";
import { removeCgroupTree } from "./host-leftovers";

/** Both streams into `file` through the binary:// logger at `logger`, as the agent sends them. */
function binaryStdio(logger: string, file: string): { stdout: string; stderr: string } {
  const uri = logBinaryUri(logger, { out: file, err: file });
  return { stdout: uri, stderr: uri };
}

export interface BareContainerd {
  /**
   * Creates and starts one container running `args`; `ms` covers only create + start. Its
   * output goes to `file://`, or through the `binary://` logger at `logger`.
   */
  start(args: readonly string[], ipc: IpcPlan, logger?: string): Promise<{ id: string; ms: number }>;
  /** Kills, deletes task and container, removes its directories. */
  remove(id: string): Promise<void>;
  /** Removes whatever is left, closes the client. */
  close(): Promise<void>;
}

export async function bareContainerd(opts: {
  socket: string;
  namespace: string;
  rootfs: string;
  /** Directory for each container's overlay upper/work and logs. */
  workDir: string;
  /** runc state directory (not shared with another containerd). */
  runcRoot: string;
}): Promise<BareContainerd> {
  const client: ContainerdClient = await connectContainerd({ socket: opts.socket, namespace: opts.namespace });
  const cgroupPrefix = `${opts.namespace}-bare`;
  const tasks = new Map<string, Task>();
  const remove = async (id: string) => {
    const task = tasks.get(id);
    tasks.delete(id);
    if (task !== undefined) {
      const exited = task.wait().catch(() => undefined);
      await task.kill("SIGKILL", { all: true }).catch(() => undefined);
      await exited;
      await task.delete().catch(() => undefined);
    }
    await client
      .loadContainer(id)
      .then((c) => c.delete())
      .catch(() => undefined);
    await rm(join(opts.workDir, id), { recursive: true, force: true });
  };
  return {
    async start(args, ipc, logger) {
      const id = randomBytes(32).toString("hex");
      const dir = join(opts.workDir, id);
      const t0 = performance.now();
      const upper = join(dir, "rootfs/upper");
      const work = join(dir, "rootfs/work");
      const logs = join(dir, "logs");
      await Promise.all([upper, work, logs].map((d) => mkdir(d, { recursive: true })));
      const spec = buildSpec({ id, hostname: id.slice(0, 12), process: { args: [...args] }, ipc, apparmorEnabled: false, cgroupPrefix });
      const container = await client.createContainer({
        id,
        spec,
        runtime: { name: "io.containerd.runc.v2", options: { binaryName: "/usr/sbin/runc", root: opts.runcRoot } },
      });
      const task = await container.newTask({
        rootfs: overlayRootfsMounts({ lowerdir: opts.rootfs, upperdir: upper, workdir: work }).map((m) => ({
          type: m.type,
          source: m.source,
          options: [...m.options],
        })),
        ...(logger === undefined
          ? { stdout: `file://${join(logs, "stdout.log")}`, stderr: `file://${join(logs, "stderr.log")}` }
          : binaryStdio(logger, join(logs, "stdout.log"))),
      });
      tasks.set(id, task);
      await task.start();
      return { id, ms: performance.now() - t0 };
    },
    remove,
    async close() {
      for (const id of [...tasks.keys()]) await remove(id);
      client.close();
      await removeCgroupTree(cgroupPrefix);
    },
  };
}
