// Original file: ../../proto/containerd/services/snapshots/v1/snapshots.proto

import type { Mount as _containerd_types_Mount, Mount__Output as _containerd_types_Mount__Output } from '../../../../containerd/types/Mount';

export interface ViewSnapshotResponse {
  'mounts'?: (_containerd_types_Mount)[];
}

export interface ViewSnapshotResponse__Output {
  'mounts': (_containerd_types_Mount__Output)[];
}
