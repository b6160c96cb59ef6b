import { randomUUID } from "node:crypto";
import { InternalError } from "@shoal/domain";
import type { Lease__Output } from "./generated/containerd/services/leases/v1/Lease";
import type { Lease, LeaseManager, LeaseResource } from "./image-services";
import { toDate } from "./proto";
import type { RpcChannel } from "./rpc-channel";

/** containerd's label for a lease's expiry (RFC 3339), read by its garbage collector. */
const EXPIRE_LABEL = "containerd.io/gc.expire";

export function leaseManager(channel: RpcChannel): LeaseManager {
  return new LeaseManagerImpl(channel);
}

class LeaseManagerImpl implements LeaseManager {
  constructor(private readonly channel: RpcChannel) {}

  async create(opts: { id?: string; labels?: Record<string, string>; expiresAt?: Date } = {}): Promise<Lease> {
    const labels = { ...opts.labels };
    // Whole seconds: containerd parses the label with Go's time.RFC3339.
    if (opts.expiresAt !== undefined) labels[EXPIRE_LABEL] = opts.expiresAt.toISOString().replace(/\.\d+Z$/, "Z");
    const id = opts.id ?? `shoal-${randomUUID()}`;
    const res = await this.channel.unary("Leases/Create", { id, labels });
    if (res.lease === null) throw new InternalError(`Leases.Create: no lease returned for ${id}`);
    return lease(res.lease);
  }

  async delete(id: string, opts: { sync?: boolean } = {}): Promise<void> {
    await this.channel.unary("Leases/Delete", { id, sync: opts.sync ?? false });
  }

  async list(filters: string[] = []): Promise<Lease[]> {
    const res = await this.channel.unary("Leases/List", { filters });
    return res.leases.map(lease);
  }

  async addResource(id: string, resource: LeaseResource): Promise<void> {
    await this.channel.unary("Leases/AddResource", { id, resource });
  }

  async deleteResource(id: string, resource: LeaseResource): Promise<void> {
    await this.channel.unary("Leases/DeleteResource", { id, resource });
  }

  async listResources(id: string): Promise<LeaseResource[]> {
    const res = await this.channel.unary("Leases/ListResources", { id });
    return res.resources.map((r) => ({ type: r.type, id: r.id }));
  }
}

function lease(l: Lease__Output): Lease {
  const out: Lease = { id: l.id, labels: { ...l.labels } };
  const createdAt = toDate(l.createdAt);
  if (createdAt !== undefined) out.createdAt = createdAt;
  return out;
}
