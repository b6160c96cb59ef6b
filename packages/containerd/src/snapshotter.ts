import { NotFoundError } from "@shoal/domain";
import type { Mount } from "./containerd-client";
import type { Info__Output } from "./generated/containerd/services/snapshots/v1/Info";
import type { Mount__Output } from "./generated/containerd/types/Mount";
import type { SnapshotInfo, SnapshotKind, SnapshotOptions, Snapshotter } from "./image-services";
import { toDate } from "./proto";
import type { RpcChannel } from "./rpc-channel";

export function snapshotter(channel: RpcChannel, name: string): Snapshotter {
  return new SnapshotterImpl(channel, name);
}

class SnapshotterImpl implements Snapshotter {
  constructor(
    private readonly channel: RpcChannel,
    readonly snapshotter: string,
  ) {}

  async prepare(key: string, parent: string, opts: SnapshotOptions = {}): Promise<Mount[]> {
    const res = await this.channel.unary(
      "Snapshots/Prepare",
      { snapshotter: this.snapshotter, key, parent, labels: opts.labels ?? {} },
      leaseOpt(opts.lease),
    );
    return res.mounts.map(fromMountMessage);
  }

  async view(key: string, parent: string, opts: SnapshotOptions = {}): Promise<Mount[]> {
    const res = await this.channel.unary(
      "Snapshots/View",
      { snapshotter: this.snapshotter, key, parent, labels: opts.labels ?? {} },
      leaseOpt(opts.lease),
    );
    return res.mounts.map(fromMountMessage);
  }

  async mounts(key: string): Promise<Mount[]> {
    const res = await this.channel.unary("Snapshots/Mounts", { snapshotter: this.snapshotter, key });
    return res.mounts.map(fromMountMessage);
  }

  async commit(name: string, key: string, opts: SnapshotOptions = {}): Promise<void> {
    await this.channel.unary(
      "Snapshots/Commit",
      { snapshotter: this.snapshotter, name, key, labels: opts.labels ?? {} },
      leaseOpt(opts.lease),
    );
  }

  async remove(key: string): Promise<void> {
    await this.channel.unary("Snapshots/Remove", { snapshotter: this.snapshotter, key });
  }

  async stat(key: string): Promise<SnapshotInfo> {
    const res = await this.channel.unary("Snapshots/Stat", { snapshotter: this.snapshotter, key });
    if (res.info === null) throw new NotFoundError(`Snapshots.Stat: no info for ${key}`);
    return snapshotInfo(res.info);
  }

  async list(filters: string[] = []): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for await (const res of this.channel.serverStream("Snapshots/List", { snapshotter: this.snapshotter, filters })) {
      for (const info of res.info) out.push(snapshotInfo(info));
    }
    return out;
  }
}

export function leaseOpt(lease: string | undefined): { lease?: string } {
  return lease === undefined ? {} : { lease };
}

export function fromMountMessage(m: Mount__Output): Mount {
  const out: Mount = { type: m.type, source: m.source, options: [...m.options] };
  if (m.target !== "") out.target = m.target;
  return out;
}

export function toMountMessage(m: Mount): { type: string; source: string; target: string; options: string[] } {
  return { type: m.type, source: m.source, target: m.target ?? "", options: m.options ?? [] };
}

function snapshotInfo(info: Info__Output): SnapshotInfo {
  const out: SnapshotInfo = { name: info.name, parent: info.parent, kind: info.kind.toLowerCase() as SnapshotKind, labels: { ...info.labels } };
  const createdAt = toDate(info.createdAt);
  if (createdAt !== undefined) out.createdAt = createdAt;
  const updatedAt = toDate(info.updatedAt);
  if (updatedAt !== undefined) out.updatedAt = updatedAt;
  return out;
}
