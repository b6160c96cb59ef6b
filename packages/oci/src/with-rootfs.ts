import { InvalidArgumentError } from "@shoal/domain";
import { edit, type SpecOpt } from "./spec";

/**
 * Sets `root` to `{path: "rootfs", readonly}`: containerd mounts the root filesystem
 * itself from the mounts passed in `Tasks.Create.rootfs` (see overlayRootfsMounts), so
 * the spec names the bundle-relative `rootfs` (containerd-notes: root.path gotcha).
 */
export function withRootfs(options: { readonly?: boolean } = {}): SpecOpt {
  return (spec) =>
    edit(spec, (s) => {
      s.root = { path: "rootfs", readonly: options.readonly ?? false };
    });
}

/** Makes the root filesystem read-only (`root.readonly: true`); needs withRootfs first or an existing root. */
export function withReadonlyRootfs(): SpecOpt {
  return (spec) =>
    edit(spec, (s) => {
      s.root = { path: s.root?.path ?? "rootfs", readonly: true };
    });
}

/** A mount as containerd's `types.Mount` for `Tasks.Create.rootfs` (not an OCI `mounts[]` entry). */
export interface RootfsMount {
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

export interface OverlayDirs {
  /** The user's rootfs directory; never written. */
  readonly lowerdir: string;
  /** Where the container's writes go; with workdir. Omit both for a read-only rootfs. */
  readonly upperdir?: string;
  /** Overlay's scratch dir, on the same filesystem as upperdir. */
  readonly workdir?: string;
}

/**
 * The `Tasks.Create.rootfs` mounts for a `--rootfs DIR` container. With upperdir and
 * workdir: one overlay mount, so the directory is never written (DESIGN: root
 * filesystems). Without them: a read-only recursive bind of the directory, since a
 * single-layer overlay has nowhere to write. All paths absolute; giving only one of
 * upperdir/workdir, or a path containing `,` or `:` (which overlay options cannot carry),
 * is InvalidArgumentError.
 */
export function overlayRootfsMounts(dirs: OverlayDirs): RootfsMount[] {
  const paths = [dirs.lowerdir, dirs.upperdir, dirs.workdir].filter((p): p is string => p !== undefined);
  for (const p of paths) {
    if (!p.startsWith("/")) throw new InvalidArgumentError(`rootfs path must be absolute, got ${JSON.stringify(p)}`);
    if (/[,:]/.test(p)) throw new InvalidArgumentError(`rootfs path ${JSON.stringify(p)} contains ',' or ':', which overlay options cannot carry`);
  }
  if ((dirs.upperdir === undefined) !== (dirs.workdir === undefined)) {
    throw new InvalidArgumentError("overlay rootfs needs both upperdir and workdir, or neither (read-only)");
  }
  if (dirs.upperdir === undefined) {
    return [{ type: "bind", source: dirs.lowerdir, options: ["rbind", "ro"] }];
  }
  return [
    {
      type: "overlay",
      source: "overlay",
      options: [`lowerdir=${dirs.lowerdir}`, `upperdir=${dirs.upperdir}`, `workdir=${dirs.workdir}`],
    },
  ];
}
