// Original file: ../../proto/containerd/events/task.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp';
import type { ExitReason as _containerd_v1_types_ExitReason, ExitReason__Output as _containerd_v1_types_ExitReason__Output } from '../../containerd/v1/types/ExitReason';

export interface TaskExit {
  'containerId'?: (string);
  'id'?: (string);
  'pid'?: (number);
  'exitStatus'?: (number);
  'exitedAt'?: (_google_protobuf_Timestamp | null);
  'exitReason'?: (_containerd_v1_types_ExitReason);
}

export interface TaskExit__Output {
  'containerId': (string);
  'id': (string);
  'pid': (number);
  'exitStatus': (number);
  'exitedAt': (_google_protobuf_Timestamp__Output | null);
  'exitReason': (_containerd_v1_types_ExitReason__Output);
}
