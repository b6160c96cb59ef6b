// Original file: ../../proto/containerd/runc/options/oci.proto


export interface ProcessDetails {
  'execId'?: (string);
}

export interface ProcessDetails__Output {
  'execId': (string);
}
