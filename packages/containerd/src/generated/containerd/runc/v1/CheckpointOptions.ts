// Original file: ../../proto/containerd/runc/options/oci.proto


export interface CheckpointOptions {
  'exit'?: (boolean);
  'openTcp'?: (boolean);
  'externalUnixSockets'?: (boolean);
  'terminal'?: (boolean);
  'fileLocks'?: (boolean);
  'emptyNamespaces'?: (string)[];
  'cgroupsMode'?: (string);
  'imagePath'?: (string);
  'workPath'?: (string);
}

export interface CheckpointOptions__Output {
  'exit': (boolean);
  'openTcp': (boolean);
  'externalUnixSockets': (boolean);
  'terminal': (boolean);
  'fileLocks': (boolean);
  'emptyNamespaces': (string)[];
  'cgroupsMode': (string);
  'imagePath': (string);
  'workPath': (string);
}
