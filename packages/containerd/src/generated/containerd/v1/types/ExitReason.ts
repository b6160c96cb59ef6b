// Original file: ../../proto/containerd/types/task/task.proto

export const ExitReason = {
  NONE: 'NONE',
  OOMKILLED: 'OOMKILLED',
  SIGNALED: 'SIGNALED',
} as const;

export type ExitReason =
  | 'NONE'
  | 0
  | 'OOMKILLED'
  | 1
  | 'SIGNALED'
  | 2

export type ExitReason__Output = typeof ExitReason[keyof typeof ExitReason]
