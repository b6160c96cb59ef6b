#!/bin/sh
# busybox-rootfs.sh DIR: a root filesystem made of busybox-static at DIR, as the tests make one
# (packages/testing/src/busybox-rootfs.ts): bin/busybox, a symlink in bin/ for every applet
# except `busybox` itself (that link would replace the binary), the usual empty mount points,
# and a root-only /etc/passwd. Used at image build for /var/lib/shoal-fleet-rootfs.
set -eu
root=${1:?usage: busybox-rootfs.sh DIR}
busybox=$(command -v busybox) || { echo "busybox-rootfs.sh: busybox is missing (apt-get install busybox-static)" >&2; exit 1; }
for d in bin dev proc sys tmp etc root run var dev/shm dev/pts dev/mqueue; do mkdir -p "$root/$d"; done
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
chmod 755 "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
