import { createHash } from "node:crypto";
import type { Hash } from "node:crypto";
import { Transform } from "node:stream";
import type { TransformCallback } from "node:stream";
import { FailedPreconditionError } from "@shoal/domain";

/**
 * A pass-through that checks a blob against its descriptor: it fails as soon as more than
 * `size` bytes arrive, and at the end unless exactly `size` bytes with the sha256 `digest`
 * went through. The failure is a FailedPreconditionError naming the digest (as containerd
 * reports a content commit that does not match) and is emitted before 'end', so a consumer
 * never sees a successful end of unverified bytes.
 *
 * For a resumed download, `hash` has already consumed the first `offset` bytes and the
 * stream carries the rest.
 */
export class BlobVerifier extends Transform {
  private received: number;

  constructor(
    private readonly digest: string,
    private readonly size: number,
    offset = 0,
    private readonly hash: Hash = createHash("sha256"),
  ) {
    super();
    this.received = offset;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    if (this.received > this.size) {
      callback(new FailedPreconditionError(`blob ${this.digest} failed verification: more than the ${this.size} bytes its descriptor gives`));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.received !== this.size) {
      callback(new FailedPreconditionError(`blob ${this.digest} failed verification: ${this.received} bytes, its descriptor gives ${this.size}`));
      return;
    }
    const actual = `sha256:${this.hash.digest("hex")}`;
    if (actual !== this.digest) {
      callback(new FailedPreconditionError(`blob ${this.digest} failed verification: its content has digest ${actual}`));
      return;
    }
    callback();
  }
}
