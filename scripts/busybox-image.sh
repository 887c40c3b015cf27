#!/usr/bin/env bash
# Imports busybox:latest from Debian's busybox-static, with no registry:
#   scripts/busybox-image.sh [berth binary]
# The rootfs holds the static busybox with a link per applet and a minimal /etc.
set -euo pipefail
berth="${1:-$(dirname "$0")/../target/release/berth}"
dpkg -s busybox-static >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq busybox-static >/dev/null; }
root=$(mktemp -d); trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,etc,root,tmp,proc,sys,dev,home/app,var/log}
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n' > "$root/etc/group"
chown -R 1000:1000 "$root/home/app"
tar --numeric-owner -C "$root" -cf - . | "$berth" import - busybox:latest
