import { InternalError } from "@shoal/domain";
import type { Mount } from "./containerd-client";
import type { Descriptor, DiffService } from "./image-services";
import { descriptor } from "./image-store";
import type { RpcChannel } from "./rpc-channel";
import { leaseOpt, toMountMessage } from "./snapshotter";

export function diffService(channel: RpcChannel): DiffService {
  return new DiffServiceImpl(channel);
}

class DiffServiceImpl implements DiffService {
  constructor(private readonly channel: RpcChannel) {}

  async apply(layer: Descriptor, mounts: Mount[], opts: { lease?: string } = {}): Promise<Descriptor> {
    const res = await this.channel.unary(
      "Diff/Apply",
      { diff: { ...layer, annotations: layer.annotations ?? {} }, mounts: mounts.map(toMountMessage) },
      { deadline: false, ...leaseOpt(opts.lease) },
    );
    if (res.applied === null) throw new InternalError(`Diff.Apply: no applied descriptor for ${layer.digest}`);
    return descriptor(res.applied);
  }
}
