#!/usr/bin/env bash
# A real application image end to end: a Debian base made with debootstrap,
# imported into berth, then a Dockerfile that apt-get installs a package
# (through the container's NAT egress) and an image that runs it.
#   DOCKER_HOST=unix:///run/berth/berth.sock scripts/debian-app.sh [berth-binary]
# Needs root, debootstrap and a reachable Debian mirror (the one apt uses).
set -euo pipefail
berth=${1:-berth}
suite=${SUITE:-bookworm}
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${MIRROR:-${mirror:-http://deb.debian.org/debian}}
work=$(mktemp -d /tmp/berth-debian.XXXXXX)
trap 'rm -rf "$work"' EXIT

debootstrap --variant=minbase "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log"; exit 1; }
tar -C "$work/rootfs" -c . | "$berth" import - "berth-debian:$suite" >/dev/null
mkdir "$work/ctx"
cat >"$work/ctx/Dockerfile" <<DOCKERFILE
FROM berth-debian:$suite
RUN apt-get update && apt-get install -y --no-install-recommends cowsay && rm -rf /var/lib/apt/lists/*
CMD ["/usr/games/cowsay", "hello from berth"]
DOCKERFILE
"$berth" build -q -t berth-debian-app "$work/ctx" >/dev/null
out=$("$berth" run --rm berth-debian-app)
echo "$out"
grep -q "< hello from berth >" <<<"$out"
"$berth" rmi berth-debian-app "berth-debian:$suite" >/dev/null
echo "debian app: ok"
