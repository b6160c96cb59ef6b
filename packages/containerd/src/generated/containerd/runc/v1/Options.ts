// Original file: ../../proto/containerd/runc/options/oci.proto


export interface Options {
  'noPivotRoot'?: (boolean);
  'noNewKeyring'?: (boolean);
  'shimCgroup'?: (string);
  'ioUid'?: (number);
  'ioGid'?: (number);
  'binaryName'?: (string);
  'root'?: (string);
  'systemdCgroup'?: (boolean);
  'criuImagePath'?: (string);
  'criuWorkPath'?: (string);
}

export interface Options__Output {
  'noPivotRoot': (boolean);
  'noNewKeyring': (boolean);
  'shimCgroup': (string);
  'ioUid': (number);
  'ioGid': (number);
  'binaryName': (string);
  'root': (string);
  'systemdCgroup': (boolean);
  'criuImagePath': (string);
  'criuWorkPath': (string);
}
