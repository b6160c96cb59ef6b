import { AlreadyExistsError, NotFoundError } from "@shoal/domain";
import type { Image__Output } from "./generated/containerd/services/images/v1/Image";
import type { Descriptor__Output } from "./generated/containerd/types/Descriptor";
import type { Descriptor, ImageRecord, ImageStore, NewImageRecord } from "./image-services";
import { toDate } from "./proto";
import type { RpcChannel } from "./rpc-channel";

export function imageStore(channel: RpcChannel): ImageStore {
  return new ImageStoreImpl(channel);
}

class ImageStoreImpl implements ImageStore {
  constructor(private readonly channel: RpcChannel) {}

  async get(name: string): Promise<ImageRecord> {
    const res = await this.channel.unary("Images/Get", { name });
    return imageRecord("Images.Get", name, res.image);
  }

  async list(filters: string[] = []): Promise<ImageRecord[]> {
    const res = await this.channel.unary("Images/List", { filters });
    return res.images.map((i) => imageRecord("Images.List", i.name, i));
  }

  async create(image: NewImageRecord): Promise<ImageRecord> {
    const res = await this.channel.unary("Images/Create", { image: imageMessage(image) });
    return imageRecord("Images.Create", image.name, res.image);
  }

  async update(image: NewImageRecord, opts: { fieldpaths?: string[] } = {}): Promise<ImageRecord> {
    const res = await this.channel.unary("Images/Update", {
      image: imageMessage(image),
      updateMask: { paths: opts.fieldpaths ?? ["target", "labels"] },
    });
    return imageRecord("Images.Update", image.name, res.image);
  }

  async put(image: NewImageRecord): Promise<ImageRecord> {
    try {
      return await this.create(image);
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
      return this.update(image);
    }
  }

  async delete(name: string, opts: { sync?: boolean } = {}): Promise<void> {
    await this.channel.unary("Images/Delete", { name, sync: opts.sync ?? false });
  }
}

function imageMessage(image: NewImageRecord): { name: string; target: Descriptor; labels: Record<string, string> } {
  return { name: image.name, target: { ...image.target, annotations: image.target.annotations ?? {} }, labels: image.labels ?? {} };
}

function imageRecord(rpc: string, name: string, image: Image__Output | null): ImageRecord {
  if (image === null || image.target === null) throw new NotFoundError(`${rpc}: no image record for ${name}`);
  const out: ImageRecord = { name: image.name, target: descriptor(image.target), labels: { ...image.labels } };
  const createdAt = toDate(image.createdAt);
  if (createdAt !== undefined) out.createdAt = createdAt;
  const updatedAt = toDate(image.updatedAt);
  if (updatedAt !== undefined) out.updatedAt = updatedAt;
  return out;
}

/** A descriptor as containerd sent it; annotations only when there are some. */
export function descriptor(d: Descriptor__Output): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: Number(d.size) };
  if (Object.keys(d.annotations).length > 0) out.annotations = { ...d.annotations };
  return out;
}
